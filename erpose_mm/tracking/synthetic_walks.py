"""A synthetic tracking sequence: people walking across a scene, crossing and occluding
each other, with ground-truth keypoint tracks and the detections a pose detector would
give (noisy keypoints, missed people, low scores under occlusion, false positives).

Used by ``tests/unit/tracking/test_tracking.py`` and ``benchmarks/eval_tracking.py`` to count ID
switches of :class:`~erpose_mm.runtime.tracker.PoseTracker` against ground truth
without a trained model. Pure numpy.

Geometry: a COCO-17 walking figure (legs and arms swing with the walking phase), feet on
a ground line; people on a lower ground line are nearer (bigger) and occlude the others.
People are launched in pairs on nearby ground lines walking towards each other, so every
pair crosses once, and the farther one is hidden for a while.
"""
from typing import Dict, List

import numpy as np

# standing person, facing the camera, in units of body height: (x right, y down from the
# top of the head); COCO order, "left" is the person's left (image right)
_TEMPLATE = np.array([
    (0.0, .06), (.025, .045), (-.025, .045), (.05, .06), (-.05, .06),
    (.11, .19), (-.11, .19), (.14, .33), (-.14, .33), (.15, .46), (-.15, .46),
    (.07, .52), (-.07, .52), (.08, .75), (-.08, .75), (.08, .97), (-.08, .97)])
# how each keypoint swings with the walking phase (x offset per unit sin(phase))
_SWING = np.array([0, 0, 0, 0, 0, 0, 0, -.04, .04, -.08, .08, 0, 0, .06, -.06, .12, -.12])


def walking_pose(foot_x: float, foot_y: float, height: float, phase: float) -> np.ndarray:
    """(17, 2) keypoints of a walking figure whose feet are at (foot_x, foot_y)."""
    k = _TEMPLATE.copy()
    k[:, 0] += _SWING * np.sin(phase)
    return np.stack([foot_x + k[:, 0] * height, foot_y - (1.0 - k[:, 1]) * height], 1)


def _box(k: np.ndarray) -> np.ndarray:
    return np.r_[k.min(0), k.max(0)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_walking_scene(num_pairs: int = 4, num_frames: int = 160, width: int = 960,
                       height: int = 540, seed: int = 0, kpt_noise: float = 0.015,
                       miss_prob: float = 0.05, fp_per_frame: float = 0.1,
                       min_visible: int = 5) -> Dict:
    """Make the sequence.

    Args:
        num_pairs: pairs of people who walk towards each other and cross.
        num_frames: frames in the sequence.
        width, height: image size in pixels.
        seed: random seed (the whole sequence is a function of the arguments).
        kpt_noise: keypoint noise (std) as a fraction of body height.
        miss_prob: probability that a fully visible person is not detected.
        fp_per_frame: expected false detections per frame (scores 0.1-0.55).
        min_visible: a person with fewer visible keypoints is not in the ground truth
            of that frame (no detector could find them).

    Returns:
        dict with ``gt_frames`` (per frame: ``dict(id, keypoints (17, 2), visible (17,))``),
        ``det_frames`` (per frame: ``dict(keypoints, keypoint_scores, bbox_score, gt_id)``,
        shuffled; ``gt_id`` -1 for a false detection, for oracle checks only),
        ``crossings`` (pairs whose boxes overlapped with IoU > 0.3), ``width``, ``height``.
    """
    rng = np.random.default_rng(seed)
    people = []
    for p in range(num_pairs):
        ground = height * rng.uniform(0.55, 0.95)
        start = int(rng.integers(0, max(1, num_frames // 3)))
        for side in (0, 1):
            h = ground * rng.uniform(0.38, 0.45)            # nearer (lower) = bigger
            speed = rng.uniform(4.0, 8.0) * width / 960
            x0, v = (-0.1 * width, speed) if side == 0 else (1.1 * width, -speed)
            g = ground + (rng.uniform(8, 20) if side else 0.0)   # the pair's depth order
            people.append(dict(id=len(people), ground=g, h=h * g / ground, x0=x0, v=v,
                               start=start + int(rng.integers(0, 6)),
                               phase0=rng.uniform(0, 2 * np.pi),
                               stride=h * rng.uniform(0.7, 0.9)))
    gt_frames, det_frames = [], []
    overlaps = set()
    for f in range(num_frames):
        poses = []
        for p in people:
            t = f - p['start']
            if t < 0:
                continue
            x = p['x0'] + p['v'] * t
            if x < -0.3 * width or x > 1.3 * width:
                continue
            phase = p['phase0'] + 2 * np.pi * abs(p['v']) * t / p['stride']
            poses.append((p, walking_pose(x, p['ground'], p['h'], phase)))
        # nearer people (lower ground line) first: they occlude the ones behind
        poses.sort(key=lambda q: -q[0]['ground'])
        gts, dets, boxes = [], [], []
        for i, (p, k) in enumerate(poses):
            inside = (k[:, 0] >= 0) & (k[:, 0] < width) & (k[:, 1] >= 0) & (k[:, 1] < height)
            hidden = np.zeros(17, bool)
            for b in boxes:  # inside the (slightly shrunk) box of a nearer person
                m = 0.1 * (b[2] - b[0])
                hidden |= (k[:, 0] > b[0] + m) & (k[:, 0] < b[2] - m) & \
                    (k[:, 1] > b[1]) & (k[:, 1] < b[3])
            for j in range(i):
                if _iou(_box(k), _box(poses[j][1])) > 0.3:
                    overlaps.add(tuple(sorted((p['id'], poses[j][0]['id']))))
            boxes.append(_box(k))
            vis = inside & ~hidden
            if vis.sum() < min_visible:
                continue
            gts.append(dict(id=p['id'], keypoints=k, visible=vis))
            # occlusion by others (not the image border) is what lowers a detector's score
            seen = vis.sum() / max(inside.sum(), 1)
            if rng.random() < (miss_prob if seen > 0.8 else 0.3):
                continue
            score = rng.uniform(0.6, 0.95) if seen > 0.6 else rng.uniform(0.15, 0.45)
            noise = rng.normal(0, kpt_noise * p['h'], (17, 2))
            noise[~vis] *= 4  # guessed, not seen
            ksc = np.where(vis, rng.uniform(0.5, 0.95, 17), rng.uniform(0.0, 0.25, 17))
            dets.append(dict(keypoints=(k + noise).tolist(), keypoint_scores=ksc.tolist(),
                             bbox_score=float(score), gt_id=p['id']))
        for _ in range(rng.poisson(fp_per_frame)):
            h = rng.uniform(0.15, 0.4) * height
            k = walking_pose(rng.uniform(0, width), rng.uniform(h, height), h,
                             rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.05 * h, (17, 2))
            dets.append(dict(keypoints=k.tolist(), keypoint_scores=rng.uniform(
                0.2, 0.8, 17).tolist(), bbox_score=float(rng.uniform(0.1, 0.55)), gt_id=-1))
        order = rng.permutation(len(dets))
        gt_frames.append(gts)
        det_frames.append([dets[i] for i in order])
    return dict(gt_frames=gt_frames, det_frames=det_frames, crossings=sorted(overlaps),
                width=width, height=height)


def ground_truth_as_tracks(gt_frames: List[List[dict]]) -> List[List[dict]]:
    """The ground truth in tracker-output form (``track_id`` = person id): a perfect
    tracker's output, for checking the metric."""
    return [[dict(track_id=g['id'], keypoints=g['keypoints']) for g in gts]
            for gts in gt_frames]


def detections_with_true_ids(det_frames: List[List[dict]]) -> List[List[dict]]:
    """Every true detection with its ground-truth ID, false ones dropped: what a perfect
    tracker could output from these detections (the floor of FN)."""
    return [[dict(track_id=d['gt_id'], keypoints=d['keypoints']) for d in dets
             if d['gt_id'] >= 0] for dets in det_frames]
