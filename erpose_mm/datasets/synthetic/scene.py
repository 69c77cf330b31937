"""Scene layout: how many people, where, how large and how occluded; crowds; labels.

:data:`DIFFICULTY_PRESETS` sets the number, scale and overlap of people per image;
:func:`place_people` samples and places the figures, :func:`draw_crowd` draws a
cluster of tiny figures (an ``iscrowd=1`` region) and :func:`generate_image` draws a
whole image and derives every person's keypoint labels, box, area and silhouette.
"""
import math
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .coco_format import mask_polygons, rle_uncompressed
from .figure import Figure
from .pose import POSE_WEIGHTS, POSES, sample_body, sample_pose, uniform
from .render import (draw_background, draw_shape, postprocess_image, random_color,
                     render_figure, skin_color)


# Difficulty presets. ``scale_range`` is the standing height of a person as a
# fraction of the image's shorter side (never below ``MIN_PERSON_PX`` pixels);
# ``occlusion`` in [0, 1] controls how often people are placed on top of each other,
# the allowed bbox IoU between people and how often objects occlude people.
DIFFICULTY_PRESETS: Dict[str, dict] = {
    'easy': dict(max_people=3, min_people=1, occlusion=0.0, scale_range=(0.35, 0.85),
                 crowd_prob=0.0, trunc_prob=0.05, distractors=(0, 3)),
    'medium': dict(max_people=6, min_people=1, occlusion=0.35, scale_range=(0.1, 1.0),
                   crowd_prob=0.1, trunc_prob=0.25, distractors=(1, 6)),
    'hard': dict(max_people=14, min_people=2, occlusion=0.8, scale_range=(0.07, 1.2),
                 crowd_prob=0.35, trunc_prob=0.4, distractors=(2, 10)),
}

MIN_PERSON_PX = 30.0


def _box_iou(a, b) -> float:
    """IoU of two ``[x0, y0, x1, y1]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def place_people(rng, W, H, n, cfg) -> List[Figure]:
    """Sample and place ``n`` figures according to the difficulty settings."""
    occ = cfg['occlusion']
    max_iou = 0.05 + 0.6 * occ
    near_prob = 0.8 * occ
    lo, hi = cfg['scale_range']
    short = min(W, H)
    figs, boxes = [], []
    for _ in range(n):
        h_px = max(MIN_PERSON_PX, short * uniform(rng, lo, hi))
        # log-uniform-ish: favour smaller people a bit in wide scale ranges
        if hi / max(lo, 1e-3) > 4 and rng.random() < 0.4:
            h_px = max(MIN_PERSON_PX, short * lo * (hi / lo)**rng.random())
        pose_name = POSES[int(rng.choice(len(POSES), p=POSE_WEIGHTS / POSE_WEIGHTS.sum()))]
        placed = None
        for attempt in range(24):
            if attempt and attempt % 8 == 0:
                h_px = max(MIN_PERSON_PX, h_px * 0.8)
            fig = Figure(sample_body(rng, h_px), sample_pose(rng, pose_name))
            x0, y0, x1, y1 = fig.ext
            fw, fh = x1 - x0, y1 - y0
            near = bool(boxes) and rng.random() < near_prob
            if near:
                j = int(rng.integers(len(boxes)))
                bj = boxes[j]
                cx = (bj[0] + bj[2]) / 2 + uniform(rng, -0.5, 0.5) * ((bj[2] - bj[0]) + fw) / 2
                cy = (bj[1] + bj[3]) / 2 + uniform(rng, -0.3, 0.3) * ((bj[3] - bj[1]) + fh) / 2
                tx, ty = cx - (x0 + x1) / 2, cy - (y0 + y1) / 2
            elif rng.random() < cfg['trunc_prob']:
                tx = rng.uniform(0, W) - (x0 + x1) / 2
                ty = rng.uniform(0, H) - (y0 + y1) / 2
            else:
                tx = (rng.uniform(-x0, W - x1) if fw <= W else rng.uniform(W - x1, -x0))
                ty = (rng.uniform(-y0, H - y1) if fh <= H else rng.uniform(H - y1, -y0))
            box = [x0 + tx, y0 + ty, x1 + tx, y1 + ty]
            kp = fig.kpts + np.array([tx, ty])
            inside = ((kp[:, 0] >= 0) & (kp[:, 0] <= W - 1) & (kp[:, 1] >= 0) &
                      (kp[:, 1] <= H - 1)).sum()
            if inside < 4:
                continue
            limit = 0.85 if near else max_iou
            if boxes and max(_box_iou(box, bb) for bb in boxes) > limit:
                continue
            fig.translate((tx, ty))
            placed = fig
            break
        if placed is not None:
            figs.append(placed)
            boxes.append(list(placed.ext))
    return figs


def draw_crowd(rng, img, owner, W, H) -> Optional[Tuple[np.ndarray, list]]:
    """Draw a cluster of many tiny figures; return (mask, bbox) or None."""
    rw, rh = uniform(rng, 0.25, 0.6) * W, uniform(rng, 0.12, 0.3) * H
    rx0, ry0 = rng.uniform(0, W - rw), rng.uniform(0, H - rh)
    fh = uniform(rng, 10, max(11.0, min(26.0, 0.7 * rh)))
    mask = np.zeros((H, W), dtype=bool)
    rows = max(1, int(rh / (0.45 * fh)))
    count = 0
    for r in range(rows):
        hrow = fh * (0.75 + 0.25 * (r + 1) / rows)
        y = ry0 + (r + 1) * rh / (rows + 1)
        x = rx0 + rng.uniform(0, 0.4) * hrow
        while x < rx0 + rw and count < 60:
            pose = sample_pose(rng, ('standing', 'arms_raised', 'walking')[int(rng.integers(3))])
            fig = Figure(sample_body(rng, hrow * uniform(rng, 0.85, 1.15)), pose)
            fig.translate((x, y))
            m, org = render_figure(rng, fig, img, owner, -3, textured=False)
            if m is not None:
                mask[org[1]:org[1] + m.shape[0], org[0]:org[0] + m.shape[1]] |= m
            count += 1
            x += hrow * uniform(rng, 0.25, 0.55)
    if count < 5 or not mask.any():
        return None
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    ys, xs = np.nonzero(mask)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return mask, bbox


def generate_image(rng, W, H, cfg, empty) -> Tuple[np.ndarray, List[dict]]:
    """Draw one (H, W, 3) uint8 BGR image and its COCO annotations (without ids).

    ``cfg`` is a resolved difficulty setting (see ``resolve_config`` in :mod:`.driver`);
    ``empty`` draws the background and distractors only. The label rules are those of
    the package docstring.
    """
    img = draw_background(rng, W, H)
    owner = np.full((H, W), -1, dtype=np.int32)
    # background distractors
    dlo, dhi = cfg['distractors']
    for _ in range(int(rng.integers(dlo, dhi + 1))):
        draw_shape(rng, img, W, H, skin_color(rng) if rng.random() < 0.15 else
                    random_color(rng), (0.05, 0.4))
    anns = []
    if empty:
        return postprocess_image(rng, img), anns
    if rng.random() < cfg['crowd_prob']:
        res = draw_crowd(rng, img, owner, W, H)
        if res is not None:
            mask, (bx0, by0, bx1, by1) = res
            anns.append(dict(
                iscrowd=1, keypoints=[0] * 51, num_keypoints=0,
                bbox=[float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
                area=float(mask.sum()), segmentation=rle_uncompressed(mask)))
    n = int(rng.integers(cfg['min_people'], cfg['max_people'] + 1))
    figs = place_people(rng, W, H, n, cfg)
    # draw far (small) people first: sort by height with jitter
    order = sorted(range(len(figs)),
                   key=lambda i: figs[i].body['H'] * uniform(rng, 0.7, 1.3))
    figs = [figs[i] for i in order]
    rendered = []
    for i, fig in enumerate(figs):
        m, org = render_figure(rng, fig, img, owner, i)
        rendered.append((fig, m, org))
    # occluding objects in front of people
    occ = cfg['occlusion']
    if figs and rng.random() < 0.1 + 0.5 * occ:
        for _ in range(int(rng.integers(1, 2 + int(3 * occ)))):
            f = figs[int(rng.integers(len(figs)))]
            x0, y0, x1, y1 = f.ext
            c = (rng.uniform(x0, x1), rng.uniform(y0, y1))
            m = np.zeros((H, W), dtype=np.uint8)
            size = (0.25 * f.body['H'] / min(W, H), 0.6 * f.body['H'] / min(W, H))
            draw_shape(rng, m, W, H, 255, size, center=c,
                        kind=int(rng.choice([0, 1, 2, 3, 4])))
            sel = m > 127
            img[sel] = random_color(rng).astype(np.uint8)
            owner[sel] = -2
    for i, (fig, m, org) in enumerate(rendered):
        if m is None:
            continue
        kps = np.zeros((17, 3))
        for k in range(17):
            x, y = fig.kpts[k]
            if not (0 <= x <= W - 1 and 0 <= y <= H - 1):
                continue
            xr, yr = round(x, 2), round(y, 2)
            vis = fig.face_visible[k] and owner[int(round(y)), int(round(x))] == i
            kps[k] = (xr, yr, 2 if vis else 1)
        labelled = kps[:, 2] > 0
        area = int(m.sum())
        num_kp = int(labelled.sum())
        # a person hidden almost entirely behind others is not annotated (as in COCO)
        own = owner[org[1]:org[1] + m.shape[0], org[0]:org[0] + m.shape[1]] == i
        visible_px = int((own & m).sum())
        if visible_px < max(10, 0.1 * area) or not (kps[:, 2] == 2).any():
            continue
        ys, xs = np.nonzero(m)
        bx0, by0 = xs.min() + org[0], ys.min() + org[1]
        bx1, by1 = xs.max() + org[0], ys.max() + org[1]
        if num_kp:
            bx0 = min(bx0, int(math.floor(kps[labelled, 0].min())))
            by0 = min(by0, int(math.floor(kps[labelled, 1].min())))
            bx1 = max(bx1, int(math.ceil(kps[labelled, 0].max())))
            by1 = max(by1, int(math.ceil(kps[labelled, 1].max())))
        bx0, by0 = max(bx0, 0), max(by0, 0)
        bx1, by1 = min(bx1, W - 1), min(by1, H - 1)
        polys = mask_polygons(m, org)
        if not polys:
            polys = [[float(bx0), float(by0), float(bx1 + 1), float(by0),
                      float(bx1 + 1), float(by1 + 1), float(bx0), float(by1 + 1)]]
        anns.append(dict(
            iscrowd=0,
            keypoints=[float(v) if j % 3 != 2 else int(v)
                       for j, v in enumerate(kps.reshape(-1))],
            num_keypoints=num_kp,
            bbox=[float(bx0), float(by0), float(bx1 - bx0 + 1), float(by1 - by0 + 1)],
            area=float(area),
            segmentation=polys))
    return postprocess_image(rng, img), anns
