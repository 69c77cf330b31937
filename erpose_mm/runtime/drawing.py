"""Drawing people (skeleton, keypoints, boxes, track IDs) on BGR images, numpy + OpenCV only."""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np


def _palette(n: int, meta_colors) -> List[Tuple[int, int, int]]:
    if meta_colors is not None and len(meta_colors) == n:
        return [tuple(int(c) for c in col[::-1]) for col in meta_colors]  # RGB -> BGR
    return [(0, 255, 0)] * n


def track_color(track_id: int) -> Tuple[int, int, int]:
    """A distinct, stable BGR colour per track ID (golden-ratio steps around the hue
    circle, full saturation and value)."""
    hue = int(((track_id * 0.618033988749895) % 1.0) * 180)
    hsv = np.array([[[hue, 255, 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_poses(img: np.ndarray, people: List[Dict], skeleton: Sequence[Tuple[int, int]],
               kpt_thr: float = 0.3, draw_bbox: bool = True, meta: Optional[Dict] = None,
               radius: Optional[int] = None, thickness: Optional[int] = None) -> np.ndarray:
    """Draw skeleton lines, keypoints and (optionally) boxes on a copy of a BGR image.

    A person with a ``track_id`` is drawn entirely in :func:`track_color` of that ID and
    labelled ``id N``; others in the dataset's keypoint / link colours. ``bbox`` may be
    ``[x1, y1, x2, y2]`` or MMPose's ``[[x1, y1, x2, y2]]``.
    """
    out = img.copy()
    h, w = out.shape[:2]
    s = max(1, int(round(max(h, w) / 640)))
    radius = radius or 2 + s
    thickness = thickness or s
    meta = meta or {}
    for p in people:
        kpts = np.asarray(p['keypoints'], np.float64)
        sc = np.asarray(p['keypoint_scores'], np.float64)
        tid = p.get('track_id')
        if tid is not None and tid >= 0:
            col = track_color(int(tid))
            kpt_colors, link_colors = [col] * len(kpts), [col] * len(skeleton)
            box_color, label = col, f'id {tid}'
        else:
            kpt_colors = _palette(len(kpts), meta.get('keypoint_colors'))
            link_colors = _palette(len(skeleton), meta.get('skeleton_link_colors'))
            box_color, label = (255, 128, 0), f"{float(np.ravel(p['bbox_score'])[0]):.2f}"
        if draw_bbox:
            x1, y1, x2, y2 = (int(round(v)) for v in np.ravel(p['bbox'])[:4])
            cv2.rectangle(out, (x1, y1), (x2, y2), box_color, thickness)
            cv2.putText(out, label, (x1, max(0, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * s,
                        box_color, thickness)
        for (a, b), col in zip(skeleton, link_colors):
            if a < len(kpts) and b < len(kpts) and sc[a] > kpt_thr and sc[b] > kpt_thr:
                pa = tuple(int(round(v)) for v in kpts[a])
                pb = tuple(int(round(v)) for v in kpts[b])
                cv2.line(out, pa, pb, col, thickness + 1, cv2.LINE_AA)
        for i, (xy, c) in enumerate(zip(kpts, sc)):
            if c > kpt_thr and np.all(np.isfinite(xy)):
                cv2.circle(out, (int(round(xy[0])), int(round(xy[1]))), radius, kpt_colors[i],
                           -1, cv2.LINE_AA)
    return out
