"""The learning benchmark's second synthetic data family ("silhouette"), made by a generator
independent of ``erpose_mm.datasets.synthetic`` (which makes the "figures" family the
benchmark's choices are tuned on); this one only confirms them.

* Figures: :mod:`.silhouette_body` (torso-frame joint angles from a pose prior, per-person
  proportions), painted as filled parts (tapered capsules, rotated ellipses or boxes, a torso
  polygon, a head ellipse) with per-region or per-limb colours and flat / gradient / stripe /
  noise textures; no outlines.
* Images: value-noise, radial-gradient, wave and random-shape backgrounds, shapes behind the
  people, per-image lighting (directional gain, vignette, colour cast, gamma), optional
  Gaussian / motion blur, sensor noise, JPEG quality 35-95 by difficulty.
* Occlusion: painter's algorithm over people (sorted by foot line) and foreground objects
  (boxes, poles, bars, blobs, most of them placed over a person's joint).
* Labels (COCO): keypoint ``v=2`` when its own limb (or face) is the top pixel, ``v=1`` when
  inside the image under anything else (another person, an object, its own torso, or a face
  point turned away), ``(0, 0, 0)`` outside the image. ``bbox`` (xywh) encloses the person's
  visible pixels and ``area`` counts them (as COCO's come from masks); ``segmentation``: the
  visible mask's outer contours. People with no labelled keypoint or under 10% (or 16 px)
  visible are drawn but not annotated. No crowd regions.

:func:`generate_silhouette_coco` has ``generate_synthetic_coco``'s signature and layout
(``OUT/{train,val}/NNNNNN.jpg``, ``OUT/annotations/person_keypoints_{train,val}.json``).
Output is deterministic per seed (each image has its own RNG from (seed, split, index)).
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from benchmarks.learning_benchmark.silhouette_body import (POSES, Figure, home_parts,
                                                           pose_figure, sample_body, sample_pose)
from erpose_mm.datasets.synthetic.coco_format import COCO_PERSON_CATEGORY

PRESETS: Dict[str, dict] = {
    'easy': dict(min_people=1, max_people=3, occlusion=0.0, scale_range=(0.35, 0.85),
                 trunc_prob=0.05, back_objects=(0, 3), front_rate=0.5, blur_prob=0.1,
                 noise=3.0, jpeg=(80, 95), poses=(0.35, 0.3, 0.1, 0.15, 0.05, 0.05)),
    'medium': dict(min_people=1, max_people=6, occlusion=0.35, scale_range=(0.15, 1.0),
                   trunc_prob=0.2, back_objects=(1, 5), front_rate=2.0, blur_prob=0.3,
                   noise=6.0, jpeg=(55, 95), poses=(0.25, 0.25, 0.15, 0.12, 0.1, 0.13)),
    'hard': dict(min_people=2, max_people=10, occlusion=0.7, scale_range=(0.1, 1.0),
                 trunc_prob=0.3, back_objects=(2, 8), front_rate=3.0, blur_prob=0.45,
                 noise=10.0, jpeg=(35, 90), poses=(0.15, 0.2, 0.2, 0.12, 0.13, 0.2)),
}
PART_SLOTS = 64  # id map: 0 background, 1 + person * PART_SLOTS + part, < 0 objects
_SPLIT_CODES = {'train': 0, 'val': 1}


# ------------------------------------------------------------------ paint
def value_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """(h, w) smooth noise in [0, 1]: a random (cells x cells-ish) grid resized bicubically."""
    n = max(h, w)
    gh, gw = max(2, int(round(cells * h / n)) + 1), max(2, int(round(cells * w / n)) + 1)
    g = cv2.resize(rng.random((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(g, 0.0, 1.0)


def rand_color(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> np.ndarray:
    """(3,) float32 BGR colour."""
    return rng.uniform(lo, hi, 3).astype(np.float32)


def texture(rng: np.random.Generator, h: int, w: int, color: np.ndarray, scale: float,
            kind: Optional[str] = None) -> np.ndarray:
    """(h, w, 3) float32 patch around ``color``: flat, gradient, stripes (period ~``scale``
    px) or noise."""
    kind = kind or str(rng.choice(['flat', 'gradient', 'stripes', 'noise'], p=[.3, .25, .25, .2]))
    out = np.broadcast_to(color, (h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, math.pi)
    t = (xx * math.cos(a) + yy * math.sin(a))
    if kind == 'gradient':
        t = (t - t.min()) / max(1.0, float(np.ptp(t)))
        out = out * (rng.uniform(0.55, 0.8) + rng.uniform(0.3, 0.6) * t)[..., None]
    elif kind == 'stripes':
        period = max(2.0, scale * rng.uniform(0.5, 1.5))
        on = np.sin(2 * math.pi * t / period) > rng.uniform(-0.4, 0.4)
        out = np.where(on[..., None], out, rand_color(rng))
    elif kind == 'noise':
        out = out * (0.7 + 0.6 * value_noise(rng, h, w, rng.uniform(3, 12)))[..., None]
    return out


def shape_mask(part_kind: str, pts: np.ndarray, widths: np.ndarray, angle: float,
               H: int, W: int) -> Optional[Tuple[slice, slice, np.ndarray]]:
    """Rasterise one part (see ``silhouette_body.Part``; 'limb', 'ellipse_limb', 'box' (two
    ends ``pts`` (2, 2), ``widths`` (2,)), 'ellipse' (centre, semi-axes) or 'poly') as
    ``(rows, cols, (h, w) bool)`` within its clipped bounding box, or None when it misses
    the image."""
    r = float(np.max(widths)) * (1.0 if part_kind == 'ellipse' else 0.6) + 2
    x0, y0 = np.floor(pts.min(0) - r).astype(int)
    x1, y1 = np.ceil(pts.max(0) + r).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
    if x1 < x0 or y1 < y0:
        return None
    m = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    q = pts - [x0, y0]
    S = 16.0  # cv2 fixed point (shift=4) for sub-pixel shapes

    def fx(p):
        return np.round(np.asarray(p) * S).astype(np.int32)
    if part_kind == 'poly':
        cv2.fillPoly(m, [fx(q)], 1, cv2.LINE_8, 4)
    elif part_kind in ('ellipse', 'disc'):
        ax = tuple(int(v) for v in np.maximum(np.round(widths * S), 8))
        cv2.ellipse(m, tuple(fx(q[0])), ax, angle, 0, 360, 1, -1, cv2.LINE_8, 4)
    else:  # limb / box between two ends
        a, b = q[0], q[1]
        v = b - a
        L = float(np.hypot(*v))
        u = v / L if L > 1e-6 else np.array([0.0, 1.0])
        n = np.array([-u[1], u[0]])
        wa, wb = widths / 2
        if part_kind == 'ellipse_limb':
            ang = math.degrees(math.atan2(u[1], u[0]))
            ax = (int(round((L / 2 + max(wa, wb) * 0.35) * S)), int(round(max(wa, wb) * S)))
            cv2.ellipse(m, tuple(fx((a + b) / 2)), (max(ax[0], 8), max(ax[1], 8)), ang, 0, 360,
                        1, -1, cv2.LINE_8, 4)
            ends = [(a, 0.75 * wa), (b, 0.75 * wb)]
        elif part_kind == 'box':
            e = max(wa, wb)
            cv2.fillConvexPoly(m, fx([a - u * e * 0.5 + n * e, b + u * e * 0.5 + n * e,
                                      b + u * e * 0.5 - n * e, a - u * e * 0.5 - n * e]), 1,
                               cv2.LINE_8, 4)
            ends = []
        else:
            cv2.fillConvexPoly(m, fx([a + n * wa, b + n * wb, b - n * wb, a - n * wa]), 1,
                               cv2.LINE_8, 4)
            ends = [(a, wa), (b, wb)]
        for c, rr in ends:
            cv2.circle(m, tuple(fx(c)), max(8, int(round(rr * S))), 1, -1, cv2.LINE_8, 4)
    return slice(y0, y1 + 1), slice(x0, x1 + 1), m.astype(bool)


def person_style(rng: np.random.Generator) -> Dict[str, object]:
    """Colours of one person's regions; 25% of people get one colour per limb instead."""
    skin = np.array([rng.uniform(40, 200)] * 3, np.float32) * [0.75, 0.85, 1.0] + \
        rng.uniform(-10, 10, 3).astype(np.float32)
    shirt, pants = rand_color(rng), rand_color(rng)
    regions = dict(skin=skin, shirt=shirt, pants=pants, shoes=rand_color(rng, 10, 120),
                   hair=rand_color(rng, 5, 110), face=skin * 0.35, nose=skin * 0.8,
                   sleeves=shirt if rng.random() < 0.6 else skin,
                   shins=pants if rng.random() < 0.75 else skin)
    return dict(regions=regions, per_limb=rng.random() < 0.25,
                kinds={k: str(rng.choice(['flat', 'gradient', 'stripes', 'noise'],
                                         p=[.3, .25, .25, .2]))
                       if k in ('shirt', 'pants', 'sleeves', 'shins') else 'flat'
                       for k in regions})


# ------------------------------------------------------------------ scene
def background(rng: np.random.Generator, W: int, H: int) -> np.ndarray:
    """(H, W, 3) float32: value noise in a palette, radial gradient, waves or random shapes."""
    kind = int(rng.integers(4))
    c0, c1 = rand_color(rng), rand_color(rng)
    if kind == 0:
        t = 0.6 * value_noise(rng, H, W, rng.uniform(2, 6)) + 0.4 * value_noise(rng, H, W, 24)
    elif kind == 1:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        t = np.clip(np.hypot(xx - cx, yy - cy) / (rng.uniform(0.5, 1.2) * max(W, H)), 0, 1)
        t = t + 0.15 * value_noise(rng, H, W, 16)
    elif kind == 2:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        a = rng.uniform(0, math.pi)
        t = 0.5 + 0.5 * np.sin((xx * math.cos(a) + yy * math.sin(a)) / rng.uniform(4, 20)
                               + rng.uniform(2, 8) * value_noise(rng, H, W, 5))
    else:
        img = np.broadcast_to(c0, (H, W, 3)).astype(np.float32).copy()
        for _ in range(int(rng.integers(15, 60))):
            r = rng.uniform(0.02, 0.2) * max(W, H)
            ang = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(3, 8))))
            pts = rng.uniform([0, 0], [W, H]) + r * np.stack([np.cos(ang), np.sin(ang)], 1)
            m = np.zeros((H, W), np.uint8)
            cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
            alpha = rng.uniform(0.3, 1.0)
            img[m > 0] = (1 - alpha) * img[m > 0] + alpha * rand_color(rng)
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    t = np.clip(t, 0, 1)[..., None]
    return ((1 - t) * c0 + t * c1).astype(np.float32)


def object_parts(rng: np.random.Generator, W: int, H: int, size: float,
                 at: Optional[np.ndarray] = None) -> List[tuple]:
    """One occluding / distracting object as ``[(kind, pts, widths, angle)]``: a box, a pole,
    a bar or a blob about ``size`` px, centred at ``at`` (default: anywhere)."""
    c = np.asarray(at, float) if at is not None else rng.uniform([0, 0], [W, H])
    kind = int(rng.integers(4))
    if kind == 0:  # rotated box
        w, h, a = size * rng.uniform(0.5, 1.5), size * rng.uniform(0.5, 1.5), rng.normal(0, .3)
        R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        pts = c + (np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2) @ R.T
        return [('poly', pts, np.zeros(2), 0.0)]
    if kind == 1:  # pole through the image
        dx = rng.normal(0, 0.15) * H
        pts = np.array([[c[0] - dx, -5.0], [c[0] + dx, H + 5.0]])
        return [('box', pts, np.full(2, size * rng.uniform(0.12, 0.3)), 0.0)]
    if kind == 2:  # horizontal bar (fence, table edge)
        half = size * rng.uniform(1.0, 3.0)
        pts = np.array([[c[0] - half, c[1]], [c[0] + half, c[1] + rng.normal(0, 0.1) * half]])
        return [('box', pts, np.full(2, size * rng.uniform(0.15, 0.35)), 0.0)]
    n = int(rng.integers(9, 16))
    rad = size * 0.6 * (1 + 0.35 * rng.standard_normal(n))
    rad = np.clip((rad + np.roll(rad, 1) + np.roll(rad, -1)) / 3, size * 0.15, None)
    a = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 1)
    return [('poly', c + rad[:, None] * np.stack([np.cos(a), np.sin(a)], 1), np.zeros(2), 0.)]


def paint(img: np.ndarray, ids: np.ndarray, shapes: Sequence[tuple], ident: Sequence[int],
          colors: Sequence[np.ndarray], scale: float, rng: np.random.Generator,
          kinds: Sequence[Optional[str]]) -> List[Optional[tuple]]:
    """Draw ``shapes`` (``(kind, pts, widths, angle)``) in order onto ``img`` (H, W, 3) and
    write ``ident[i]`` into ``ids`` (H, W) where shape i lands; returns their masks."""
    H, W = ids.shape
    out = []
    for (kind, pts, widths, angle), i, col, tk in zip(shapes, ident, colors, kinds):
        r = shape_mask(kind, pts, widths, angle, H, W)
        out.append(r)
        if r is None:
            continue
        ys, xs, m = r
        tex = texture(rng, m.shape[0], m.shape[1], col * rng.uniform(0.85, 1.15), scale, tk)
        img[ys, xs][m] = tex[m]
        ids[ys, xs][m] = i
    return out


def place_people(rng: np.random.Generator, W: int, H: int, n: int, cfg: dict
                 ) -> List[Tuple[Figure, np.ndarray]]:
    """``n`` posed figures with their image offsets (pelvis position), back to front."""
    lo, hi = cfg['scale_range']
    occ = cfg['occlusion']
    pw = np.asarray(cfg['poses'], float)
    out, boxes = [], []
    for _ in range(n):
        h = max(24.0, min(W, H) * rng.uniform(lo, hi))
        style = str(rng.choice(['limb', 'ellipse_limb', 'box'], p=[0.5, 0.3, 0.2]))
        fig = pose_figure(sample_body(rng, h), sample_pose(rng, POSES[int(
            rng.choice(len(POSES), p=pw / pw.sum()))]), style)
        e = fig.extent()
        fw, fh = e[2] - e[0], e[3] - e[1]
        for attempt in range(20):
            if boxes and rng.random() < 0.9 * occ:  # next to someone already placed
                j = boxes[int(rng.integers(len(boxes)))]
                cx = (j[0] + j[2]) / 2 + rng.uniform(-0.7, 0.7) * ((j[2] - j[0]) + fw) / 2
                cy = (j[1] + j[3]) / 2 + rng.uniform(-0.25, 0.25) * ((j[3] - j[1]) + fh) / 2
            elif rng.random() < cfg['trunc_prob']:
                cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            else:
                cx = rng.uniform(min(fw / 2, W / 2), max(W - fw / 2, W / 2))
                cy = rng.uniform(min(fh / 2, H / 2), max(H - fh / 2, H / 2))
            off = np.array([cx - (e[0] + e[2]) / 2, cy - (e[1] + e[3]) / 2])
            box = np.concatenate([e[:2] + off, e[2:] + off])
            if all(_iou(box, b) <= 0.1 + 0.6 * occ for b in boxes) or attempt == 19:
                break
        boxes.append(box)
        out.append((fig, off))
    out.sort(key=lambda fo: fo[0].extent()[3] + fo[1][1])  # painter's order: feet lower = nearer
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def render(rng: np.random.Generator, W: int, H: int, people: Sequence[Tuple[Figure, np.ndarray]],
           cfg: dict, bg: Optional[np.ndarray] = None, front_objects: bool = True
           ) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Paint ``people`` (back to front) with objects behind and in front of them.

    Returns the (H, W, 3) float32 image, the (H, W) int32 id map (0 background,
    ``1 + p * PART_SLOTS + part`` for part ``part`` of person ``p``, < 0 objects) and each
    person's unoccluded pixel count (clipped to the image)."""
    img = background(rng, W, H) if bg is None else bg.astype(np.float32).copy()
    ids = np.zeros((H, W), np.int32)
    short = min(W, H)
    nb = int(rng.integers(cfg['back_objects'][0], cfg['back_objects'][1] + 1))
    for j in range(nb):
        sh = object_parts(rng, W, H, short * rng.uniform(0.05, 0.25))
        paint(img, ids, sh, [0] * len(sh), [rand_color(rng)] * len(sh), short * 0.05, rng,
              [None] * len(sh))
    nf = int(rng.poisson(cfg['front_rate'] * cfg['occlusion'])) if front_objects else 0
    after = {}  # person index -> objects drawn right after it
    for j in range(nf):
        p = int(rng.integers(len(people))) if people else -1
        if p >= 0 and rng.random() < 0.8:
            fig, off = people[p]
            at = fig.kpts[int(rng.integers(17))] + off
            size = fig.height * rng.uniform(0.1, 0.35)
            after.setdefault(int(rng.integers(p, len(people))), []).append((at, size))
        else:
            after.setdefault(len(people) - 1, []).append((None, short * rng.uniform(0.1, 0.3)))
    full = []
    next_obj = -1
    for p, (fig, off) in enumerate(people):
        st = person_style(rng)
        limb_cols = {}
        shapes, cols, kinds = [], [], []
        for part in fig.parts:
            shapes.append((part.kind, part.pts + off, part.widths, part.angle))
            col = st['regions'][part.region]
            if st['per_limb'] and part.region in ('shirt', 'pants', 'sleeves', 'shins') \
                    and part.name != 'torso':
                col = limb_cols.setdefault(part.name, rand_color(rng))
            cols.append(col)
            kinds.append(st['kinds'][part.region])
        masks = paint(img, ids, shapes, [1 + p * PART_SLOTS + k for k in range(len(shapes))],
                      cols, fig.height * 0.06, rng, kinds)
        un = np.zeros((H, W), bool)
        for r in masks:
            if r is not None:
                un[r[0], r[1]] |= r[2]
        full.append(int(un.sum()))
        for at, size in after.get(p, []):
            sh = object_parts(rng, W, H, size, at)
            paint(img, ids, sh, [next_obj] * len(sh), [rand_color(rng)] * len(sh), size * 0.3,
                  rng, [None] * len(sh))
            next_obj -= 1
    return img, ids, full


def label(ids: np.ndarray, people: Sequence[Tuple[Figure, np.ndarray]], full: Sequence[int]
          ) -> List[Tuple[dict, np.ndarray]]:
    """Per person ``(annotation, visible mask (H, W) bool)``; the annotation has
    ``keypoints`` (51,), ``num_keypoints``, ``bbox`` (xywh of the visible mask, zeros when
    empty), ``area`` (visible pixels), ``iscrowd`` 0, ``segmentation`` and ``keep`` (whether it
    is annotated: a labelled keypoint and >= 10% / 16 px visible)."""
    H, W = ids.shape
    owner = np.where(ids > 0, (ids - 1) // PART_SLOTS, -1)
    out = []
    for p, (fig, off) in enumerate(people):
        names = [q.name for q in fig.parts]
        kps = []
        for k, (x, y) in enumerate(fig.kpts + off):
            if not (0 <= x <= W - 1 and 0 <= y <= H - 1):
                kps += [0.0, 0.0, 0]
                continue
            i = int(ids[int(round(y)), int(round(x))])
            own = i > 0 and (i - 1) // PART_SLOTS == p and \
                names[(i - 1) % PART_SLOTS] in home_parts(k)
            kps += [round(float(x), 2), round(float(y), 2), 2 if own and not fig.hidden[k] else 1]
        vis = owner == p
        n_vis = int(vis.sum())
        if n_vis:
            ys, xs = np.nonzero(vis)
            bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1)]
        else:
            bbox = [0.0, 0.0, 0.0, 0.0]
        nk = sum(1 for v in kps[2::3] if v > 0)
        out.append((dict(keypoints=kps, num_keypoints=nk, bbox=bbox, area=float(n_vis),
                         iscrowd=0, segmentation=_polygons(vis, bbox),
                         keep=nk > 0 and n_vis >= max(16, 0.1 * full[p])), vis))
    return out


def _polygons(mask: np.ndarray, bbox: List[float]) -> List[List[float]]:
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [[float(v) for v in c.reshape(-1)] for c in cs if len(c) >= 3]
    if not polys and bbox[2] > 0:
        x, y, w, h = bbox
        polys = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return polys


def finish(rng: np.random.Generator, img: np.ndarray, cfg: dict) -> np.ndarray:
    """Per-image lighting, optional blur and sensor noise: (H, W, 3) float32 -> uint8."""
    H, W = img.shape[:2]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    t = ((xx - W / 2) * math.cos(a) + (yy - H / 2) * math.sin(a)) / max(W, H)
    gain = 1 + rng.uniform(0, 0.6) * t
    gain *= 1 - rng.uniform(0, 0.5) * (((xx - W / 2) / W) ** 2 + ((yy - H / 2) / H) ** 2)
    img = img * gain[..., None] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.75, 1.35)
    if rng.random() < cfg['blur_prob']:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.4))
        else:
            k = int(rng.integers(3, 8))
            ker = np.zeros((k, k), np.float32)
            ker[k // 2] = 1.0 / k
            M = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1.0)
            ker = cv2.warpAffine(ker, M, (k, k))
            img = cv2.filter2D(img, -1, ker / max(ker.sum(), 1e-6))
    img = img + rng.normal(0, rng.uniform(0, cfg['noise']), img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def generate_image(rng: np.random.Generator, W: int, H: int, cfg: dict, empty: bool = False
                   ) -> Tuple[np.ndarray, List[dict], List[np.ndarray]]:
    """One image: (H, W, 3) uint8 BGR, the kept annotations (without ids) and their visible
    masks (H, W) bool."""
    n = 0 if empty else int(rng.integers(cfg['min_people'], cfg['max_people'] + 1))
    people = place_people(rng, W, H, n, cfg)
    img, ids, full = render(rng, W, H, people, cfg)
    anns, masks = [], []
    for a, m in label(ids, people, full):
        if a.pop('keep'):
            anns.append(a)
            masks.append(m)
    return finish(rng, img, cfg), anns, masks


def _image_task(args) -> Tuple[dict, List[dict]]:
    seed, split, idx, img_dir, cfg, empty, quality = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], int(idx), 0x5117])
    W = int(rng.integers(cfg['min_size'], cfg['max_size'] + 1))
    H = int(rng.integers(cfg['min_size'], cfg['max_size'] + 1))
    img, anns, _ = generate_image(rng, W, H, cfg, empty)
    lo, hi = cfg['jpeg']
    q = int(quality) if quality is not None else int(rng.integers(lo, hi + 1))
    name = f'{idx + 1:06d}.jpg'
    if not cv2.imwrite(osp.join(img_dir, name), img, [cv2.IMWRITE_JPEG_QUALITY, q]):
        raise IOError(f'failed to write {osp.join(img_dir, name)}')
    return dict(id=idx + 1, file_name=name, width=W, height=H), anns


def generate_silhouette_coco(out_dir: str, num_train: int = 200, num_val: int = 50,
                             seed: int = 0, min_size: int = 320, max_size: int = 640,
                             difficulty: str = 'medium', max_people: Optional[int] = None,
                             crowd_prob: Optional[float] = None, progress: bool = True, *,
                             min_people: Optional[int] = None,
                             occlusion: Optional[float] = None,
                             scale_range: Optional[Sequence[float]] = None,
                             trunc_prob: Optional[float] = None, empty_frac: float = 0.05,
                             jpeg_quality: Optional[int] = None, workers: int = 0) -> dict:
    """Write a silhouette-family COCO person-keypoints dataset; arguments and return value as
    ``erpose_mm.datasets.generate_synthetic_coco`` (``scale_range``: standing height / shorter
    image side; ``occlusion`` 0..1: how often people stand next to each other and how many
    objects cover them). Crowd regions are not modelled (``crowd_prob`` must be 0 / None);
    ``progress`` is accepted and ignored. Images are ``W, H`` in [min_size, max_size]."""
    if difficulty not in PRESETS:
        raise ValueError(f'difficulty must be one of {sorted(PRESETS)}, got {difficulty!r}')
    if crowd_prob:
        raise ValueError('the silhouette family has no crowd regions (crowd_prob must be 0)')
    if not 16 <= int(min_size) <= int(max_size):
        raise ValueError(f'need 16 <= min_size <= max_size, got {min_size}, {max_size}')
    cfg = dict(PRESETS[difficulty], min_size=int(min_size), max_size=int(max_size),
               difficulty=difficulty)
    for k, v in dict(max_people=max_people, min_people=min_people, occlusion=occlusion,
                     scale_range=scale_range, trunc_prob=trunc_prob).items():
        if v is not None:
            cfg[k] = tuple(float(x) for x in v) if k == 'scale_range' else v
    cfg['min_people'] = min(int(cfg['min_people']), int(cfg['max_people']))
    out_dir = osp.abspath(out_dir)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    summary = dict(out_dir=out_dir, config={k: list(v) if isinstance(v, tuple) else v
                                            for k, v in cfg.items()}, family='silhouette')
    for split, n in (('train', int(num_train)), ('val', int(num_val))):
        img_dir = osp.join(out_dir, split)
        os.makedirs(img_dir, exist_ok=True)
        srng = np.random.default_rng([int(seed), _SPLIT_CODES[split], 0x5117, 1])
        n_empty = max(int(round(empty_frac * n)), int(empty_frac > 0 and n >= 4))
        empty = set(srng.permutation(n)[:n_empty].tolist()) if n else set()
        tasks = [(seed, split, i, img_dir, cfg, i in empty or cfg['max_people'] == 0,
                  jpeg_quality) for i in range(n)]
        if workers and workers > 0 and n > 1:
            import multiprocessing as mp
            with mp.get_context('fork').Pool(int(workers)) as pool:
                results = pool.map(_image_task, tasks, chunksize=4)
        else:
            results = [_image_task(t) for t in tasks]
        images, anns = [], []
        for im, a_list in results:
            images.append(im)
            for a in a_list:
                anns.append(dict(id=len(anns) + 1, image_id=im['id'], category_id=1, **a))
        ann_file = osp.join(out_dir, 'annotations', f'person_keypoints_{split}.json')
        with open(ann_file, 'w') as f:
            json.dump(dict(info=dict(description='ER-Pose benchmark silhouette-family person '
                                     'keypoints', contributor='benchmarks.learning_benchmark.'
                                     'silhouette_family', seed=int(seed), split=split,
                                     difficulty=difficulty), licenses=[], images=images,
                           annotations=anns, categories=[COCO_PERSON_CATEGORY]), f,
                      separators=(',', ':'))
        summary[split] = dict(ann_file=ann_file, img_dir=img_dir, num_images=len(images),
                              num_annotations=len(anns), num_persons=len(anns), num_crowd=0,
                              num_empty_images=sum(1 for _, a in results if not a))
    return summary
