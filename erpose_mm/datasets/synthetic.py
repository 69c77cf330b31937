"""Synthetic multi-person COCO person-keypoints dataset generator.

:func:`generate_synthetic_coco` writes a small COCO-style person-keypoints dataset
that ``pycocotools.coco.COCO`` and MMPose's ``CocoDataset`` read unchanged::

    OUT/train/000001.jpg ...
    OUT/val/000001.jpg ...
    OUT/annotations/person_keypoints_train.json
    OUT/annotations/person_keypoints_val.json

Figure model
------------
Every person is an articulated 2D figure built from a sampled body (proportions in
units of the standing height, slightly randomised, including child-like bodies with
a larger head) and a sampled pose (standing, walking, sitting, arms raised, leaning,
lying, free "dancing" poses). Limbs are tapered capsules with a dark outline, the
torso/pelvis are filled polygons, hands/shoes are extra capsules beyond the
wrists/ankles, and the head is an ellipse with hair, ears, eyes, nose and mouth drawn
at the facial keypoints. Each joint is drawn as the rounded, outlined end of the
child segment, so every keypoint sits at a visible junction.

Left/right follow a geometric rule that is consistent under horizontal flipping:
figures face the camera, so the person's left side appears on the image's right side
(for an upright figure). Heads may turn (yaw) towards a profile view, the body may
turn by up to ~75 degrees; far-side eyes/ears that turn behind the head are labelled
``v=1`` and not drawn. The mirror image of every generated figure is again a valid
figure of the same model with left/right labels swapped, which is exactly what
MMPose's flip augmentation produces. Colours never encode the side.

Labels
------
* ``keypoints``: ``[x, y, v] * 17`` in COCO order, pixel-centre coordinates
  (pixel ``(i, j)`` has centre ``(j, i)``). A keypoint outside the image
  (``x`` or ``y`` outside ``[0, W-1]`` / ``[0, H-1]``) is ``(0, 0, 0)``. ``v=2`` when
  the person's own pixel is on top at the keypoint, ``v=1`` when it is covered by
  a later-drawn person or occluding object, or is a face point turned away from the
  camera.
* ``num_keypoints``: number of keypoints with ``v > 0``.
* ``bbox``: ``[x, y, w, h]`` enclosing the figure's drawn pixels (clipped to the
  image) and all labelled keypoints; always inside ``[0, W] x [0, H]``.
* ``area``: the **drawn pixel area of the figure** (its full silhouette clipped to
  the image, ignoring occlusion by figures drawn later). For crowd regions it is the
  pixel area of the crowd mask.
* ``segmentation``: polygons of the figure silhouette's external contours (same
  silhouette as ``area``); crowd regions (``iscrowd=1``) carry an uncompressed RLE
  (``{"counts": [...], "size": [h, w]}``, as in the official COCO files) of the
  dilated union of the many tiny figures, ``num_keypoints=0`` and all-zero keypoints.
* A person whose visible (un-occluded) pixels are fewer than 10% of its silhouette,
  or that has no visible (``v=2``) keypoint, is drawn but not annotated.
* A fraction of images (``empty_frac``, default 5%) have no people at all and
  appear in ``images`` without annotations.

Generation is deterministic: every image uses its own RNG seeded by
``(seed, split, index)``, so the same seed gives byte-identical JSON files (and
identical JPEGs for the same OpenCV build), independent of ``workers``.
"""

from __future__ import annotations

import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'generate_synthetic_coco', 'KEYPOINT_NAMES', 'SKELETON', 'DIFFICULTY_PRESETS',
    'POSES', 'COCO_PERSON_CATEGORY'
]

KEYPOINT_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                  'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
                  'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
                  'right_knee', 'left_ankle', 'right_ankle')

# The standard COCO person skeleton (1-based keypoint indices, 19 links).
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13],
            [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3],
            [2, 4], [3, 5], [4, 6], [5, 7]]

COCO_PERSON_CATEGORY = {
    'supercategory': 'person',
    'id': 1,
    'name': 'person',
    'keypoints': list(KEYPOINT_NAMES),
    'skeleton': SKELETON,
}

POSES = ('standing', 'walking', 'sitting', 'arms_raised', 'leaning', 'lying',
         'dancing')
_POSE_WEIGHTS = np.array([0.22, 0.18, 0.13, 0.13, 0.12, 0.09, 0.13])

# Difficulty presets. ``scale_range`` is the standing height of a person as a
# fraction of the image's shorter side (never below ``_MIN_PERSON_PX`` pixels);
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

_MIN_PERSON_PX = 30.0
_SPLIT_CODES = {'train': 0, 'val': 1}

# keypoint indices
(NOSE, LEYE, REYE, LEAR, REAR, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE,
 RKNE, LANK, RANK) = range(17)

# label-map part ids (index into the per-person palette)
(ID_OUTLINE, ID_SKIN, ID_SHIRT, ID_PANTS, ID_SHOES, ID_HAIR, ID_PUPIL, ID_NOSE,
 ID_SCLERA, ID_EAR, ID_FOREARM, ID_HAND, ID_MOUTH, ID_SHIN) = range(1, 15)
_N_IDS = 16

_SKIN_TONES_RGB = np.array([(255, 224, 189), (241, 194, 125), (224, 172, 105),
                            (198, 134, 66), (141, 85, 36), (255, 219, 172),
                            (234, 192, 134), (92, 51, 23), (200, 160, 140)],
                           dtype=np.float64)
_HAIR_RGB = np.array([(25, 25, 25), (60, 40, 25), (110, 70, 35), (220, 190, 120),
                      (165, 165, 165), (150, 60, 20)], dtype=np.float64)


# --------------------------------------------------------------------------- utils
def _dir(theta_deg: float) -> np.ndarray:
    """Unit vector for an angle in degrees: 0 = image down, +90 = image right."""
    t = math.radians(theta_deg)
    return np.array([math.sin(t), math.cos(t)])


def _u(rng, a, b) -> float:
    return float(rng.uniform(a, b))


def _rand_color(rng, sat=(0.2, 1.0), val=(0.2, 1.0)) -> np.ndarray:
    """Random BGR colour (float64, 0..255) from HSV."""
    h = rng.uniform(0, 6)
    s = rng.uniform(*sat)
    v = rng.uniform(*val) * 255.0
    i = int(h) % 6
    f = h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb[::-1], dtype=np.float64)


def _skin_color(rng) -> np.ndarray:
    rgb = _SKIN_TONES_RGB[rng.integers(len(_SKIN_TONES_RGB))] + rng.uniform(-12, 12, 3)
    return np.clip(rgb[::-1], 0, 255)


def _pts16(pts) -> np.ndarray:
    return np.round(np.asarray(pts, dtype=np.float64) * 16.0).astype(np.int32)


def _ellipse_poly(c, rx, ry, u, w, a0=0.0, a1=360.0, n=36) -> np.ndarray:
    """Points of an ellipse (arc) with axes along unit vectors ``u`` (rx), ``w`` (ry).

    Angles in degrees; -90 is the ``-w`` direction ("top of the head")."""
    a = np.radians(np.linspace(a0, a1, n, endpoint=(a1 - a0) < 360.0))
    return (np.asarray(c)[None] + np.outer(rx * np.cos(a), u) +
            np.outer(ry * np.sin(a), w))


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


# ------------------------------------------------------------------ figure drawing
class _Canvas:
    """Draws primitives into a uint8 label map with an offset (sub-pixel, shift=4)."""

    def __init__(self, label: np.ndarray, origin: Tuple[float, float]):
        self.label = label
        self.ox, self.oy = float(origin[0]), float(origin[1])

    def _p(self, pts):
        pts = np.asarray(pts, dtype=np.float64) - np.array([self.ox, self.oy])
        return np.round(pts * 16.0).astype(np.int32)

    def _q(self, p):
        return (int(round((p[0] - self.ox) * 16.0)), int(round((p[1] - self.oy) * 16.0)))

    def circle(self, c, r, val):
        cv2.circle(self.label, self._q(c), max(int(round(r * 16)), 1), int(val), -1,
                   cv2.LINE_8, 4)

    def capsule(self, p1, p2, r1, r2, val):
        x1, y1 = float(p1[0]), float(p1[1])
        x2, y2 = float(p2[0]), float(p2[1])
        lab, val = self.label, int(val)
        cv2.circle(lab, self._q((x1, y1)), max(int(round(r1 * 16)), 1), val, -1,
                   cv2.LINE_8, 4)
        cv2.circle(lab, self._q((x2, y2)), max(int(round(r2 * 16)), 1), val, -1,
                   cv2.LINE_8, 4)
        vx, vy = x2 - x1, y2 - y1
        n = math.hypot(vx, vy)
        if n > 1e-6:
            nx, ny = -vy / n, vx / n
            quad = np.array([self._q((x1 + nx * r1, y1 + ny * r1)),
                             self._q((x2 + nx * r2, y2 + ny * r2)),
                             self._q((x2 - nx * r2, y2 - ny * r2)),
                             self._q((x1 - nx * r1, y1 - ny * r1))], dtype=np.int32)
            cv2.fillConvexPoly(lab, quad, val, cv2.LINE_8, 4)

    def poly(self, pts, val, convex=False):
        p = self._p(pts)
        if convex:
            cv2.fillConvexPoly(self.label, p, int(val), cv2.LINE_8, 4)
        else:
            cv2.fillPoly(self.label, [p], int(val), cv2.LINE_8, 4)

    def polyline(self, pts, val, thickness, closed=True):
        cv2.polylines(self.label, [self._p(pts)], closed, int(val),
                      max(int(round(thickness)), 1), cv2.LINE_8, 4)


def _sample_body(rng, height: float) -> dict:
    """Body proportions (pixels) for a person of the given standing height."""
    child = rng.random() < 0.12
    H = height
    head_h = _u(rng, 0.16, 0.19) if child else _u(rng, 0.12, 0.145)
    ry = head_h * H / 2
    bulk = _u(rng, 0.85, 1.25)
    r_ua = _u(rng, 0.03, 0.04) * H * bulk
    r_th = _u(rng, 0.045, 0.06) * H * bulk
    return dict(
        H=H,
        ry=ry,
        rx=ry * _u(rng, 0.74, 0.86),
        neck=_u(rng, 0.025, 0.045) * H,
        torso=_u(rng, 0.27, 0.31) * H,
        sw=_u(rng, 0.2, 0.25) * H * (0.9 if child else 1.0),
        hw=_u(rng, 0.12, 0.16) * H,
        upper_arm=_u(rng, 0.16, 0.19) * H,
        forearm=_u(rng, 0.14, 0.16) * H,
        hand=_u(rng, 0.06, 0.08) * H,
        thigh=_u(rng, 0.22, 0.25) * H,
        shin=_u(rng, 0.21, 0.24) * H,
        foot=_u(rng, 0.08, 0.1) * H,
        r_ua=r_ua,
        r_fa=r_ua * _u(rng, 0.75, 0.9),
        r_th=r_th,
        r_sh=r_th * _u(rng, 0.7, 0.82),
        outline=max(1.0, 0.008 * H) if H >= 24 else 0.0,
    )


def _arms_hanging(rng, p, i=None):
    for k, s in enumerate((1, -1)):
        if i is not None and k != i:
            continue
        a = _u(rng, 3, 35)
        p['arm'][k] = [s * a, s * (a + _u(rng, -60, 25)), _u(rng, 0.85, 1), _u(rng, 0.6, 1)]


def _legs_standing(rng, p, spread=12.0):
    for k, s in enumerate((1, -1)):
        a = _u(rng, 0, spread)
        sh = max(a + _u(rng, -8, 4), -4.0)
        p['leg'][k] = [s * a, s * sh, _u(rng, 0.9, 1), _u(rng, 0.9, 1)]


def _feet_front(rng, p):
    for k, s in enumerate((1, -1)):
        p['foot'][k] = [s * _u(rng, 20, 75), _u(rng, 0.45, 0.8)]


def _feet_side(rng, p, d):
    for k in range(2):
        p['foot'][k] = [d * _u(rng, 70, 100), _u(rng, 0.85, 1.0)]


def _sample_pose(rng, name: str) -> dict:
    """Joint angles (degrees, 0 = down, + = image right) for a named pose."""
    p = dict(name=name, rho=_u(rng, -6, 6), lean=_u(rng, -5, 5),
             beta=float(np.clip(rng.normal(0, 15), -45, 45)), psi=None,
             tilt=_u(rng, -15, 15), arm_base='torso', arm=[None, None],
             leg=[None, None], foot=[None, None], hand=[_u(rng, -20, 20) for _ in '01'])
    if name == 'standing':
        _arms_hanging(rng, p)
        _legs_standing(rng, p)
        _feet_front(rng, p)
    elif name == 'walking':
        d = 1 if rng.random() < 0.5 else -1
        p['beta'] = d * _u(rng, 15, 70)
        p['lean'] = -d * _u(rng, 0, 8)
        fwd = int(rng.integers(2))  # index of the forward leg
        for k in range(2):
            if k == fwd:
                t = d * _u(rng, 10, 30)
                p['leg'][k] = [t, t - d * _u(rng, 0, 20), _u(rng, 0.85, 1), _u(rng, 0.9, 1)]
                u = -d * _u(rng, 5, 25)  # opposite arm swings back
                p['arm'][k] = [u, u + d * _u(rng, 0, 20), _u(rng, 0.8, 1), _u(rng, 0.8, 1)]
            else:
                t = -d * _u(rng, 5, 25)
                p['leg'][k] = [t, t - d * _u(rng, 10, 45), _u(rng, 0.85, 1), _u(rng, 0.9, 1)]
                u = d * _u(rng, 5, 30)
                p['arm'][k] = [u, u + d * _u(rng, 5, 50), _u(rng, 0.8, 1), _u(rng, 0.7, 1)]
        _feet_side(rng, p, d)
    elif name == 'sitting':
        style = rng.random()
        if style < 0.45:  # facing the camera, thighs towards the viewer
            for k, s in enumerate((1, -1)):
                a = _u(rng, 10, 50)
                p['leg'][k] = [s * a, s * _u(rng, -5, 20), _u(rng, 0.25, 0.55),
                               _u(rng, 0.85, 1)]
                u = _u(rng, 0, 25)
                p['arm'][k] = [s * u, s * (u - _u(rng, 30, 90)), _u(rng, 0.8, 1),
                               _u(rng, 0.6, 1)]
            _feet_front(rng, p)
        elif style < 0.65:  # cross-legged
            for k, s in enumerate((1, -1)):
                a = _u(rng, 55, 85)
                p['leg'][k] = [s * a, -s * _u(rng, 50, 85), _u(rng, 0.6, 0.9),
                               _u(rng, 0.6, 0.9)]
                u = _u(rng, 5, 30)
                p['arm'][k] = [s * u, s * (u - _u(rng, 20, 80)), _u(rng, 0.8, 1),
                               _u(rng, 0.7, 1)]
                p['foot'][k] = [-s * _u(rng, 60, 100), _u(rng, 0.4, 0.7)]
        else:  # seen from the side (three-quarter / profile)
            d = 1 if rng.random() < 0.5 else -1
            p['beta'] = d * _u(rng, 40, 75)
            p['lean'] = -d * _u(rng, -15, 10)
            for k in range(2):
                t = d * _u(rng, 65, 100)
                p['leg'][k] = [t, _u(rng, -15, 15), _u(rng, 0.85, 1), _u(rng, 0.85, 1)]
                u = d * _u(rng, 0, 40)
                p['arm'][k] = [u, u + d * _u(rng, 20, 80), _u(rng, 0.8, 1), _u(rng, 0.7, 1)]
            _feet_side(rng, p, d)
    elif name == 'arms_raised':
        for k, s in enumerate((1, -1)):
            if rng.random() < 0.85:
                a = _u(rng, 100, 175)
                p['arm'][k] = [s * a, s * min(a + _u(rng, -50, 30), 185.0),
                               _u(rng, 0.85, 1), _u(rng, 0.8, 1)]
            else:
                _arms_hanging(rng, p, k)
        _legs_standing(rng, p, spread=25.0)
        _feet_front(rng, p)
    elif name == 'leaning':
        _legs_standing(rng, p, spread=18.0)
        _feet_front(rng, p)
        p['lean'] = (1 if rng.random() < 0.5 else -1) * _u(rng, 15, 60)
        p['arm_base'] = 'world'
        for k, s in enumerate((1, -1)):
            a = _u(rng, -15, 30)
            p['arm'][k] = [s * a, s * (a + _u(rng, -40, 20)), _u(rng, 0.85, 1),
                           _u(rng, 0.7, 1)]
    elif name == 'lying':
        base = ('standing', 'arms_raised', 'dancing', 'walking')[int(rng.integers(4))]
        p = _sample_pose(rng, base)
        p['name'] = 'lying'
        p['rho'] = (1 if rng.random() < 0.5 else -1) * _u(rng, 65, 115)
        p['arm_base'] = 'torso'
    elif name == 'dancing':
        for k, s in enumerate((1, -1)):
            a = _u(rng, -30, 180)
            p['arm'][k] = [s * a, s * (a + _u(rng, -120, 60)), _u(rng, 0.7, 1),
                           _u(rng, 0.6, 1)]
            t = _u(rng, -15, 70)
            p['leg'][k] = [s * t, s * (t + _u(rng, -70, 30)), _u(rng, 0.6, 1),
                           _u(rng, 0.7, 1)]
        _feet_front(rng, p)
        p['lean'] = _u(rng, -20, 20)
        p['rho'] = _u(rng, -20, 20)
    else:
        raise ValueError(f'unknown pose {name!r}')
    if p['psi'] is None:
        if rng.random() < 0.65:
            psi = float(np.clip(rng.normal(0, 12), -30, 30))
        else:
            psi = (1 if rng.random() < 0.5 else -1) * _u(rng, 30, 80)
        p['psi'] = float(np.clip(psi + 0.5 * p['beta'], -85, 85))
    return p


def _sample_style(rng) -> np.ndarray:
    """Per-person palette (BGR float) indexed by part id, plus texture info."""
    pal = np.zeros((_N_IDS, 3), dtype=np.float64)
    skin = _skin_color(rng)
    shirt = _rand_color(rng)
    pants = _rand_color(rng, val=(0.15, 0.9))
    pal[ID_OUTLINE] = rng.uniform(10, 60)
    pal[ID_SKIN] = skin
    pal[ID_SHIRT] = shirt
    pal[ID_PANTS] = pants
    pal[ID_SHOES] = _rand_color(rng, val=(0.05, 0.6))
    if rng.random() < 0.12:
        pal[ID_HAIR] = _rand_color(rng)  # hat / dyed
    else:
        pal[ID_HAIR] = _HAIR_RGB[rng.integers(len(_HAIR_RGB))][::-1] + rng.uniform(-10, 10)
    pal[ID_PUPIL] = rng.uniform(10, 50, 3)
    pal[ID_NOSE] = skin * _u(rng, 0.7, 0.82)
    pal[ID_SCLERA] = rng.uniform(215, 250)
    pal[ID_EAR] = skin * _u(rng, 0.82, 0.92)
    pal[ID_FOREARM] = shirt if rng.random() < 0.6 else skin
    pal[ID_HAND] = skin if rng.random() < 0.9 else _rand_color(rng)
    pal[ID_MOUTH] = np.array([70, 60, 160]) * _u(rng, 0.6, 1.0)
    pal[ID_SHIN] = pants if rng.random() < 0.75 else skin
    return np.clip(pal, 0, 255)


class _Figure:
    """An articulated figure: keypoints and drawing primitives in image coordinates."""

    def __init__(self, body: dict, pose: dict):
        self.body, self.pose = body, pose
        b, p = body, pose
        rho = p['rho']
        tau = rho + p['lean']
        beta, psi = p['beta'], p['psi']
        cb = max(abs(math.cos(math.radians(beta))), 0.35)
        kp = np.zeros((17, 2))
        self.face_visible = np.ones(17, dtype=bool)

        P = np.zeros(2)
        ux = _dir(rho + 90)  # pelvis lateral (person's left = image right when upright)
        down_p = _dir(rho)
        ut = _dir(tau + 90)
        up_t = _dir(tau + 180)
        neck = P + up_t * b['torso']
        kp[LHIP] = P + ux * b['hw'] / 2 * cb
        kp[RHIP] = P - ux * b['hw'] / 2 * cb
        kp[LSHO] = neck + ut * b['sw'] / 2 * cb
        kp[RSHO] = neck - ut * b['sw'] / 2 * cb

        arm_base = tau if p['arm_base'] == 'torso' else rho
        hand_tips, foot_tips = [], []
        for k, (sho, elb, wri) in enumerate(((LSHO, LELB, LWRI), (RSHO, RELB, RWRI))):
            tu, tf, fu, ff = p['arm'][k]
            kp[elb] = kp[sho] + _dir(arm_base + tu) * b['upper_arm'] * fu
            kp[wri] = kp[elb] + _dir(arm_base + tf) * b['forearm'] * ff
            hand_tips.append(kp[wri] + _dir(arm_base + tf + p['hand'][k]) * b['hand'])
        for k, (hip, kne, ank) in enumerate(((LHIP, LKNE, LANK), (RHIP, RKNE, RANK))):
            tt, ts, ft, fs = p['leg'][k]
            kp[kne] = kp[hip] + _dir(rho + tt) * b['thigh'] * ft
            kp[ank] = kp[kne] + _dir(rho + ts) * b['shin'] * fs
            fa, fl = p['foot'][k]
            foot_tips.append(kp[ank] + _dir(rho + fa) * b['foot'] * fl)

        # head frame
        roll = tau + p['tilt']
        hu, hw = _dir(roll + 90), _dir(roll)  # head right / head down
        rx, ry = b['rx'], b['ry']
        hc = neck + _dir(roll + 180) * (b['neck'] + ry * 0.85)
        self.head = (hc, hu, hw, rx, ry)

        def head_pt(uu, ww):
            return hc + hu * uu + hw * ww

        spsi = math.sin(math.radians(psi))
        cpsi = math.cos(math.radians(psi))
        kp[NOSE] = head_pt(1.1 * rx * spsi, 0.22 * ry)
        eye_depth = []
        for idx, az in ((LEYE, 30.0), (REYE, -30.0)):
            a = math.radians(az + psi)
            kp[idx] = head_pt(0.97 * rx * math.sin(a), -0.08 * ry)
            eye_depth.append(math.cos(a))
            self.face_visible[idx] = math.cos(a) > 0.1
        ear_depth = []
        for idx, az in ((LEAR, 95.0), (REAR, -95.0)):
            a = math.radians(az + psi)
            kp[idx] = head_pt(1.0 * rx * math.sin(a), 0.08 * ry)
            ear_depth.append(math.cos(a))
            self.face_visible[idx] = math.cos(a) > -0.1
        self.kpts = kp

        # ---------------------------------------------------------------- primitives
        ol = b['outline']
        prims = []  # (kind, id, args...), drawn in order; outline handled per kind

        def caps(p1, p2, r1, r2, pid):
            prims.append(('capsule', pid, p1, p2, r1, r2))

        # torso: shirt and pelvis polygons
        waist_c = neck + (P - neck) * 0.72
        waist_w = (b['sw'] * 0.3 + b['hw'] * 0.7) * cb / 2 + b['r_th'] * 0.8
        top_w = b['sw'] / 2 * cb + b['r_ua'] * 0.5
        shirt = np.stack([
            neck + ut * top_w + up_t * b['r_ua'] * 0.6,
            waist_c + ut * waist_w,
            waist_c - ut * waist_w,
            neck - ut * top_w + up_t * b['r_ua'] * 0.6,
        ])
        hip_w = b['hw'] / 2 * cb + b['r_th'] * 0.9
        pelvis = np.stack([
            waist_c + ut * waist_w,
            P + ux * hip_w + down_p * b['r_th'] * 0.5,
            P + down_p * b['r_th'] * 1.1,
            P - ux * hip_w + down_p * b['r_th'] * 0.5,
            waist_c - ut * waist_w,
        ])

        far = None  # index (0=L, 1=R) of the far side when the body is turned
        if abs(beta) > 30:
            far = 0 if beta > 0 else 1

        def arm(k):
            sho, elb, wri = ((LSHO, LELB, LWRI), (RSHO, RELB, RWRI))[k]
            caps(kp[sho], kp[elb], b['r_ua'], b['r_ua'] * 0.88, ID_SHIRT)
            caps(kp[elb], kp[wri], b['r_fa'], b['r_fa'] * 0.85, ID_FOREARM)
            caps(kp[wri], hand_tips[k], b['r_fa'] * 0.95, b['r_fa'] * 1.1, ID_HAND)

        def leg(k):
            hip, kne, ank = ((LHIP, LKNE, LANK), (RHIP, RKNE, RANK))[k]
            caps(kp[hip], kp[kne], b['r_th'], b['r_th'] * 0.85, ID_PANTS)
            caps(kp[kne], kp[ank], b['r_sh'], b['r_sh'] * 0.8, ID_SHIN)
            caps(kp[ank], foot_tips[k], b['r_sh'] * 0.85, b['r_sh'] * 0.8, ID_SHOES)

        if far is not None:
            arm(far)
        prims.append(('poly', ID_PANTS, pelvis))
        prims.append(('poly', ID_SHIRT, shirt))
        for k in ((far, 1 - far) if far is not None else (0, 1)):
            leg(k)
        for k in ((1 - far, ) if far is not None else (0, 1)):
            arm(k)
        caps(neck + up_t * b['r_ua'] * 0.3, hc, rx * 0.42, rx * 0.42, ID_SKIN)
        # ears (behind the head)
        for k, idx in enumerate((LEAR, REAR)):
            if ear_depth[k] > -0.3:
                prims.append(('ellipse', ID_EAR, kp[idx], rx * 0.24, ry * 0.34, hu, hw))
        prims.append(('ellipse', ID_SKIN, hc, rx, ry, hu, hw))
        # hair cap: arc of the head outline, shifted towards the back of the head
        shift = -40.0 * spsi
        cap = _ellipse_poly(hc, rx + ol * 0.5, ry + ol * 0.5, hu, hw, -160 + shift,
                            -20 + shift, n=20)
        prims.append(('hair', ID_HAIR, cap))
        for k, idx in enumerate((LEYE, REYE)):
            if self.face_visible[idx]:
                wf = max(0.25, eye_depth[k])
                prims.append(('eye', ID_SCLERA, kp[idx], rx * 0.2 * wf, ry * 0.12, hu,
                              hw, rx * 0.1))
        if abs(psi) > 30:
            tri = np.stack([head_pt(0.78 * rx * spsi, 0.0), kp[NOSE],
                            head_pt(0.78 * rx * spsi, 0.34 * ry)])
            prims.append(('poly', ID_NOSE, tri))
        prims.append(('dot', ID_NOSE, kp[NOSE], rx * 0.13))
        if cpsi > 0.35:
            mc = head_pt(0.9 * rx * spsi, 0.55 * ry)
            half = hu * rx * 0.22 * cpsi
            prims.append(('line', ID_MOUTH, mc - half, mc + half, max(1.0, 0.09 * ry)))
        self.prims = prims

        # extents (x0, y0, x1, y1)
        pts = [kp, np.stack(hand_tips), np.stack(foot_tips), shirt, pelvis]
        pad = max(b['r_th'], b['r_ua'] * 1.1, rx * 0.5) + ol + 2
        allp = np.concatenate(pts, 0)
        ext = [allp[:, 0].min() - pad, allp[:, 1].min() - pad,
               allp[:, 0].max() + pad, allp[:, 1].max() + pad]
        hr = max(rx, ry) * 1.25 + ol + 2
        ext = [min(ext[0], hc[0] - hr), min(ext[1], hc[1] - hr),
               max(ext[2], hc[0] + hr), max(ext[3], hc[1] + hr)]
        self.ext = np.array(ext)

    def translate(self, t):
        t = np.asarray(t, dtype=np.float64)
        self.kpts = self.kpts + t
        self.ext = self.ext + np.concatenate([t, t])
        hc, hu, hw, rx, ry = self.head
        self.head = (hc + t, hu, hw, rx, ry)
        new = []
        for pr in self.prims:
            kind = pr[0]
            if kind == 'capsule':
                new.append((kind, pr[1], pr[2] + t, pr[3] + t, pr[4], pr[5]))
            elif kind in ('poly', 'hair'):
                new.append((kind, pr[1], pr[2] + t))
            elif kind in ('ellipse', 'eye'):
                new.append((kind, pr[1], pr[2] + t) + tuple(pr[3:]))
            elif kind == 'dot':
                new.append((kind, pr[1], pr[2] + t, pr[3]))
            elif kind == 'line':
                new.append((kind, pr[1], pr[2] + t, pr[3] + t, pr[4]))
        self.prims = new

    def draw_labels(self, cv: _Canvas):
        ol = self.body['outline']
        for pr in self.prims:
            kind, pid = pr[0], pr[1]
            if kind == 'capsule':
                _, _, p1, p2, r1, r2 = pr
                if ol > 0:
                    cv.capsule(p1, p2, r1 + ol, r2 + ol, ID_OUTLINE)
                cv.capsule(p1, p2, r1, r2, pid)
            elif kind == 'poly':
                cv.poly(pr[2], pid)
                if ol > 0:
                    cv.polyline(pr[2], ID_OUTLINE, ol)
            elif kind == 'hair':
                cv.poly(pr[2], pid, convex=True)
            elif kind == 'ellipse':
                _, _, c, rx, ry, hu, hw = pr
                if ol > 0:
                    cv.poly(_ellipse_poly(c, rx + ol, ry + ol, hu, hw), ID_OUTLINE,
                            convex=True)
                cv.poly(_ellipse_poly(c, rx, ry, hu, hw), pid, convex=True)
            elif kind == 'eye':
                _, _, c, rx, ry, hu, hw, rp = pr
                if rx >= 1.0:
                    cv.poly(_ellipse_poly(c, rx, ry, hu, hw, n=16), ID_SCLERA, convex=True)
                cv.circle(c, max(rp, 0.5), ID_PUPIL)
            elif kind == 'dot':
                cv.circle(pr[2], max(pr[3], 0.5), pid)
            elif kind == 'line':
                p = np.stack([pr[2], pr[3]])
                cv.polyline(p, pid, pr[4], closed=False)


def _texture(rng, shape, H) -> Optional[np.ndarray]:
    """A multiplicative texture factor map (float32) or None for plain cloth."""
    kind = rng.integers(5)
    if kind <= 1:
        return None
    h, w = shape
    period = max(2.0, _u(rng, 0.02, 0.07) * H)
    if kind == 2:  # stripes
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ph = (xx * np.float32(math.cos(ang)) + yy * np.float32(math.sin(ang))) / np.float32(period)
        return np.where((ph % 2.0) < 1.0, np.float32(_u(rng, 0.55, 0.85)),
                        np.float32(1.0)).astype(np.float32)
    if kind == 3:  # checker
        yy, xx = np.mgrid[0:h, 0:w]
        c = ((xx // int(period) + yy // int(period)) % 2).astype(np.float32)
        return 1.0 - c * np.float32(_u(rng, 0.2, 0.45))
    # smooth noise
    g = rng.uniform(0.7, 1.2, (max(2, int(h / period) + 2), max(2, int(w / period) + 2)))
    return cv2.resize(g.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _render_figure(rng, fig: _Figure, img, owner, owner_val, textured=True):
    """Draw the figure into ``img`` and ``owner``. Returns (mask, (x0, y0)) clipped to
    the image, or (None, None) when the figure is entirely outside."""
    H, W = img.shape[:2]
    x0 = max(int(math.floor(fig.ext[0])), 0)
    y0 = max(int(math.floor(fig.ext[1])), 0)
    x1 = min(int(math.ceil(fig.ext[2])) + 1, W)
    y1 = min(int(math.ceil(fig.ext[3])) + 1, H)
    if x1 <= x0 or y1 <= y0:
        return None, None
    label = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    fig.draw_labels(_Canvas(label, (x0, y0)))
    mask = label > 0
    if not mask.any():
        return None, None
    pal = _sample_style(rng)
    patch = img[y0:y1, x0:x1]
    if not textured:
        patch[mask] = pal.astype(np.uint8)[label[mask]]
    else:
        colour = pal.astype(np.float32)[label]  # (h, w, 3)
        for pid in (ID_SHIRT, ID_PANTS):
            tex = _texture(rng, label.shape, fig.body['H'])
            if tex is None:
                continue
            sel = label == pid
            if pid == ID_SHIRT and np.array_equal(pal[ID_FOREARM], pal[ID_SHIRT]):
                sel |= label == ID_FOREARM
            if pid == ID_PANTS and np.array_equal(pal[ID_SHIN], pal[ID_PANTS]):
                sel |= label == ID_SHIN
            colour[sel] *= tex[sel][:, None]
        # soft shading across the figure
        if rng.random() < 0.5:
            g = np.linspace(_u(rng, 0.8, 1.0), _u(rng, 1.0, 1.15), label.shape[1],
                            dtype=np.float32)
            colour *= g[None, :, None]
        patch[mask] = np.clip(colour[mask], 0, 255).astype(np.uint8)
    owner[y0:y1, x0:x1][mask] = owner_val
    return mask, (x0, y0)


# -------------------------------------------------------------------- backgrounds
def _background(rng, W, H) -> np.ndarray:
    kind = int(rng.integers(6))
    c1, c2 = _rand_color(rng), _rand_color(rng)
    yy = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    if kind == 0:  # linear gradient
        ang = rng.uniform(0, 2 * np.pi)
        t = xx * np.float32(math.cos(ang)) + yy * np.float32(math.sin(ang))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 1:  # stripes
        ang = rng.uniform(0, np.pi)
        period = _u(rng, 0.02, 0.25)
        t = (xx * np.float32(W / max(W, H) * math.cos(ang)) +
             yy * np.float32(H / max(W, H) * math.sin(ang))) / np.float32(period)
        t = 0.5 + 0.5 * np.sin(t * np.float32(2 * np.pi))
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
    elif kind == 2:  # checker / tiles
        s = int(rng.integers(8, 80))
        iy = (np.arange(H) // s)[:, None]
        ix = (np.arange(W) // s)[None, :]
        t = ((ix + iy) % 2).astype(np.float32) * np.float32(_u(rng, 0.3, 1.0))
    elif kind == 3:  # wall and floor
        hz = _u(rng, 0.3, 0.8)
        t = np.broadcast_to((yy > hz).astype(np.float32) * 0.8 + yy * 0.2, (H, W))
    else:  # smooth coloured noise
        s = int(rng.integers(6, 64))
        g = rng.random((max(2, H // s + 2), max(2, W // s + 2), 3)).astype(np.float32)
        g = cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)
        c3 = _rand_color(rng)
        img = (c1[None, None] * (1 - g) + c3[None, None] * g).astype(np.float32)
        t = None
    if t is not None:
        t = np.broadcast_to(t, (H, W))[..., None]
        img = c1[None, None].astype(np.float32) * (1 - t) + c2[None, None].astype(
            np.float32) * t
    # fine noise
    sigma = _u(rng, 0, 14)
    if sigma > 1:
        n = rng.standard_normal((H // 2 + 1, W // 2 + 1, 1), dtype=np.float32)
        n = cv2.resize(n, (W, H), interpolation=cv2.INTER_NEAREST).reshape(H, W, 1)
        img = img + n * np.float32(sigma)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_shape(rng, canvas, W, H, color, size_range, center=None, kind=None):
    """Draw a random non-person shape on ``canvas`` (uint8 image or mask)."""
    if kind is None:
        kind = int(rng.integers(7))
    s = _u(rng, *size_range) * min(W, H)
    if center is None:
        center = (rng.uniform(0, W), rng.uniform(0, H))
    cx, cy = center
    col = tuple(float(c) for c in np.atleast_1d(color))
    if len(col) == 1:
        col = col[0]
    if kind == 0:  # rectangle
        w, h = s * _u(rng, 0.3, 1.5), s * _u(rng, 0.3, 1.5)
        ang = _u(rng, -30, 30)
        box = cv2.boxPoints(((cx, cy), (w, h), ang))
        cv2.fillConvexPoly(canvas, _pts16(box), col, cv2.LINE_AA, 4)
    elif kind == 1:  # circle
        cv2.circle(canvas, tuple(int(v) for v in _pts16((cx, cy))), int(s * 8), col, -1,
                   cv2.LINE_AA, 4)
    elif kind == 2:  # ellipse
        cv2.ellipse(canvas, (int(cx), int(cy)), (max(1, int(s / 2)), max(1, int(s * _u(rng, 0.15, 0.5)))),
                    _u(rng, 0, 180), 0, 360, col, -1, cv2.LINE_AA)
    elif kind == 3:  # random polygon
        n = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.3, 0.6, n) * s
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
        cv2.fillPoly(canvas, [_pts16(pts)], col, cv2.LINE_AA, 4)
    elif kind == 4:  # thick stick / pole (limb-like hard negative)
        a = rng.uniform(0, np.pi)
        d = np.array([math.cos(a), math.sin(a)]) * s * 0.6
        cv2.line(canvas, tuple(int(v) for v in _pts16((cx - d[0], cy - d[1]))),
                 tuple(int(v) for v in _pts16((cx + d[0], cy + d[1]))), col,
                 max(2, int(s * _u(rng, 0.05, 0.15))), cv2.LINE_AA, 4)
    elif kind == 5:  # ring
        cv2.circle(canvas, (int(cx), int(cy)), max(2, int(s / 2)), col,
                   max(1, int(s * _u(rng, 0.05, 0.2))), cv2.LINE_AA)
    else:  # bent polyline (two or three segments)
        n = int(rng.integers(2, 4))
        pts = [np.array([cx, cy])]
        a = rng.uniform(0, 2 * np.pi)
        for _ in range(n):
            a += rng.uniform(-1.5, 1.5)
            pts.append(pts[-1] + np.array([math.cos(a), math.sin(a)]) * s * 0.4)
        cv2.polylines(canvas, [_pts16(np.stack(pts))], False, col,
                      max(2, int(s * _u(rng, 0.05, 0.12))), cv2.LINE_AA, 4)


# --------------------------------------------------------------------- image level
def _rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major run lengths, starting with zeros)."""
    h, w = mask.shape
    flat = mask.reshape(-1, order='F').astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {'counts': [int(c) for c in counts], 'size': [int(h), int(w)]}


def _polygons(mask: np.ndarray, origin) -> List[List[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if len(c) >= 6:
            c = cv2.approxPolyDP(c, 0.7, True)
        if len(c) < 3:
            continue
        pts = c.reshape(-1, 2).astype(np.float64) + np.asarray(origin, dtype=np.float64)
        polys.append([float(v) for v in pts.reshape(-1)])
    return polys


def _place_people(rng, W, H, n, cfg) -> List[_Figure]:
    """Sample and place ``n`` figures according to the difficulty settings."""
    occ = cfg['occlusion']
    max_iou = 0.05 + 0.6 * occ
    near_prob = 0.8 * occ
    lo, hi = cfg['scale_range']
    short = min(W, H)
    figs, boxes = [], []
    for _ in range(n):
        h_px = max(_MIN_PERSON_PX, short * _u(rng, lo, hi))
        # log-uniform-ish: favour smaller people a bit in wide scale ranges
        if hi / max(lo, 1e-3) > 4 and rng.random() < 0.4:
            h_px = max(_MIN_PERSON_PX, short * lo * (hi / lo)**rng.random())
        pose_name = POSES[int(rng.choice(len(POSES), p=_POSE_WEIGHTS / _POSE_WEIGHTS.sum()))]
        placed = None
        for attempt in range(24):
            if attempt and attempt % 8 == 0:
                h_px = max(_MIN_PERSON_PX, h_px * 0.8)
            fig = _Figure(_sample_body(rng, h_px), _sample_pose(rng, pose_name))
            x0, y0, x1, y1 = fig.ext
            fw, fh = x1 - x0, y1 - y0
            near = bool(boxes) and rng.random() < near_prob
            if near:
                j = int(rng.integers(len(boxes)))
                bj = boxes[j]
                cx = (bj[0] + bj[2]) / 2 + _u(rng, -0.5, 0.5) * ((bj[2] - bj[0]) + fw) / 2
                cy = (bj[1] + bj[3]) / 2 + _u(rng, -0.3, 0.3) * ((bj[3] - bj[1]) + fh) / 2
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
            if boxes and max(_iou(box, bb) for bb in boxes) > limit:
                continue
            fig.translate((tx, ty))
            placed = fig
            break
        if placed is not None:
            figs.append(placed)
            boxes.append(list(placed.ext))
    return figs


def _draw_crowd(rng, img, owner, W, H) -> Optional[Tuple[np.ndarray, list]]:
    """Draw a cluster of many tiny figures; return (mask, bbox) or None."""
    rw, rh = _u(rng, 0.25, 0.6) * W, _u(rng, 0.12, 0.3) * H
    rx0, ry0 = rng.uniform(0, W - rw), rng.uniform(0, H - rh)
    fh = _u(rng, 10, max(11.0, min(26.0, 0.7 * rh)))
    mask = np.zeros((H, W), dtype=bool)
    rows = max(1, int(rh / (0.45 * fh)))
    count = 0
    for r in range(rows):
        hrow = fh * (0.75 + 0.25 * (r + 1) / rows)
        y = ry0 + (r + 1) * rh / (rows + 1)
        x = rx0 + rng.uniform(0, 0.4) * hrow
        while x < rx0 + rw and count < 60:
            pose = _sample_pose(rng, ('standing', 'arms_raised', 'walking')[int(rng.integers(3))])
            fig = _Figure(_sample_body(rng, hrow * _u(rng, 0.85, 1.15)), pose)
            fig.translate((x, y))
            m, org = _render_figure(rng, fig, img, owner, -3, textured=False)
            if m is not None:
                mask[org[1]:org[1] + m.shape[0], org[0]:org[0] + m.shape[1]] |= m
            count += 1
            x += hrow * _u(rng, 0.25, 0.55)
    if count < 5 or not mask.any():
        return None
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    ys, xs = np.nonzero(mask)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return mask, bbox


def _generate_image(rng, W, H, cfg, empty) -> Tuple[np.ndarray, List[dict]]:
    img = _background(rng, W, H)
    owner = np.full((H, W), -1, dtype=np.int32)
    # background distractors
    dlo, dhi = cfg['distractors']
    for _ in range(int(rng.integers(dlo, dhi + 1))):
        _draw_shape(rng, img, W, H, _skin_color(rng) if rng.random() < 0.15 else
                    _rand_color(rng), (0.05, 0.4))
    anns = []
    if empty:
        return _postprocess(rng, img), anns
    if rng.random() < cfg['crowd_prob']:
        res = _draw_crowd(rng, img, owner, W, H)
        if res is not None:
            mask, (bx0, by0, bx1, by1) = res
            anns.append(dict(
                iscrowd=1, keypoints=[0] * 51, num_keypoints=0,
                bbox=[float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
                area=float(mask.sum()), segmentation=_rle_uncompressed(mask)))
    n = int(rng.integers(cfg['min_people'], cfg['max_people'] + 1))
    figs = _place_people(rng, W, H, n, cfg)
    # draw far (small) people first: sort by height with jitter
    order = sorted(range(len(figs)),
                   key=lambda i: figs[i].body['H'] * _u(rng, 0.7, 1.3))
    figs = [figs[i] for i in order]
    rendered = []
    for i, fig in enumerate(figs):
        m, org = _render_figure(rng, fig, img, owner, i)
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
            _draw_shape(rng, m, W, H, 255, size, center=c,
                        kind=int(rng.choice([0, 1, 2, 3, 4])))
            sel = m > 127
            img[sel] = _rand_color(rng).astype(np.uint8)
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
        polys = _polygons(m, org)
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
    return _postprocess(rng, img), anns


def _postprocess(rng, img: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), _u(rng, 0.3, 1.0))
    a, b = _u(rng, 0.8, 1.15), _u(rng, -20, 20)
    if abs(a - 1) > 0.03 or abs(b) > 3:
        img = cv2.convertScaleAbs(img, alpha=a, beta=b)
    return img


def _image_task(args):
    """Generate, write and describe one image (top-level for multiprocessing)."""
    seed, split, idx, img_dir, cfg, empty, quality = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], int(idx)])
    W = int(rng.integers(cfg['min_size'], cfg['max_size'] + 1))
    ar = math.exp(rng.uniform(-math.log(2.0), math.log(2.0)))
    H = int(np.clip(round(W * ar), cfg['min_size'], cfg['max_size']))
    img, anns = _generate_image(rng, W, H, cfg, empty)
    q = int(quality) if quality is not None else int(rng.integers(80, 96))
    file_name = f'{idx + 1:06d}.jpg'
    ok = cv2.imwrite(osp.join(img_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        raise IOError(f'failed to write {osp.join(img_dir, file_name)}')
    return dict(id=idx + 1, file_name=file_name, width=W, height=H), anns


def _resolve_config(difficulty, min_size, max_size, max_people, min_people, occlusion,
                    scale_range, crowd_prob, trunc_prob, empty_frac) -> dict:
    if difficulty not in DIFFICULTY_PRESETS:
        raise ValueError(f'difficulty must be one of {sorted(DIFFICULTY_PRESETS)}, '
                         f'got {difficulty!r}')
    cfg = dict(DIFFICULTY_PRESETS[difficulty])
    for k, v in dict(max_people=max_people, min_people=min_people, occlusion=occlusion,
                     scale_range=scale_range, crowd_prob=crowd_prob,
                     trunc_prob=trunc_prob).items():
        if v is not None:
            cfg[k] = v
    cfg['max_people'] = int(cfg['max_people'])
    cfg['min_people'] = int(min(cfg['min_people'], cfg['max_people']))
    if cfg['max_people'] < 0 or cfg['min_people'] < 0:
        raise ValueError('max_people/min_people must be >= 0')
    cfg['scale_range'] = tuple(float(v) for v in cfg['scale_range'])
    if not 0 < cfg['scale_range'][0] <= cfg['scale_range'][1]:
        raise ValueError(f'invalid scale_range {cfg["scale_range"]}')
    cfg['occlusion'] = float(np.clip(cfg['occlusion'], 0.0, 1.0))
    cfg['crowd_prob'] = float(np.clip(cfg['crowd_prob'], 0.0, 1.0))
    cfg['trunc_prob'] = float(np.clip(cfg['trunc_prob'], 0.0, 1.0))
    if not 16 <= int(min_size) <= int(max_size):
        raise ValueError(f'need 16 <= min_size <= max_size, got {min_size}, {max_size}')
    cfg['min_size'], cfg['max_size'] = int(min_size), int(max_size)
    cfg['empty_frac'] = float(np.clip(empty_frac, 0.0, 1.0))
    cfg['difficulty'] = difficulty
    cfg['distractors'] = tuple(int(v) for v in cfg['distractors'])
    return cfg


def generate_synthetic_coco(out_dir: str,
                            num_train: int = 200,
                            num_val: int = 50,
                            seed: int = 0,
                            min_size: int = 320,
                            max_size: int = 640,
                            difficulty: str = 'medium',
                            max_people: Optional[int] = None,
                            crowd_prob: Optional[float] = None,
                            progress: bool = True,
                            *,
                            min_people: Optional[int] = None,
                            occlusion: Optional[float] = None,
                            scale_range: Optional[Sequence[float]] = None,
                            trunc_prob: Optional[float] = None,
                            empty_frac: float = 0.05,
                            jpeg_quality: Optional[int] = None,
                            workers: int = 0) -> dict:
    """Write a synthetic multi-person COCO person-keypoints dataset.

    Args:
        out_dir: output root; creates ``train/``, ``val/`` and ``annotations/``.
        num_train, num_val: number of images per split (0 skips writing images but
            still writes a valid, empty annotation file).
        seed: RNG seed; the same seed gives byte-identical JSON files.
        min_size, max_size: range of image width/height in pixels (aspect ratio
            varies between 1:2 and 2:1 within that range).
        difficulty: preset name, ``'easy'`` (1-3 mostly un-occluded medium/large
            people), ``'medium'`` or ``'hard'`` (crowded, heavy occlusion, many
            crowd regions); see :data:`DIFFICULTY_PRESETS`.
        max_people, min_people: people per (non-empty) image, overrides the preset.
        crowd_prob: probability of a crowd region (``iscrowd=1``) per image.
        progress: show a tqdm progress bar.
        occlusion: 0..1, how much people overlap / get occluded (overrides preset).
        scale_range: (lo, hi) standing height as a fraction of the shorter image
            side (people are never smaller than 30 px).
        trunc_prob: probability that a person is placed across the image border.
        empty_frac: fraction of images without people (at least one such image per
            split when the split has >= 4 images and ``empty_frac > 0``).
        jpeg_quality: fixed JPEG quality; default random in [80, 95] per image.
        workers: >0 generates images in that many processes (same output).

    Returns:
        dict with ``out_dir``, ``config`` and, per split, ``ann_file``, ``img_dir``,
        ``num_images``, ``num_annotations``, ``num_persons`` (iscrowd=0),
        ``num_crowd`` and ``num_empty_images``.
    """
    cfg = _resolve_config(difficulty, min_size, max_size, max_people, min_people,
                          occlusion, scale_range, crowd_prob, trunc_prob, empty_frac)
    out_dir = osp.abspath(out_dir)
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    splits = [('train', int(num_train)), ('val', int(num_val))]

    tasks = {}
    for split, n in splits:
        img_dir = osp.join(out_dir, split)
        os.makedirs(img_dir, exist_ok=True)
        srng = np.random.default_rng([int(seed), _SPLIT_CODES[split], 2**31 - 1])
        n_empty = int(round(cfg['empty_frac'] * n))
        if n_empty == 0 and cfg['empty_frac'] > 0 and n >= 4:
            n_empty = 1
        empty = set(srng.permutation(n)[:n_empty].tolist()) if n else set()
        if cfg['max_people'] == 0:
            empty = set(range(n))
        tasks[split] = [(seed, split, i, img_dir, cfg, i in empty, jpeg_quality)
                        for i in range(n)]

    all_tasks = [t for split, _ in splits for t in tasks[split]]
    pbar = None
    if progress:
        from tqdm import tqdm
        pbar = tqdm(total=len(all_tasks), desc='synthetic coco', unit='img')
    results = []
    if workers and workers > 0 and len(all_tasks) > 1:
        import multiprocessing as mp
        methods = mp.get_all_start_methods()
        ctx = mp.get_context('fork' if 'fork' in methods else None)
        with ctx.Pool(int(workers)) as pool:
            for r in pool.imap(_image_task, all_tasks, chunksize=4):
                results.append(r)
                if pbar is not None:
                    pbar.update(1)
    else:
        for t in all_tasks:
            results.append(_image_task(t))
            if pbar is not None:
                pbar.update(1)
    if pbar is not None:
        pbar.close()

    summary = dict(out_dir=out_dir, config={k: (list(v) if isinstance(v, tuple) else v)
                                            for k, v in cfg.items()})
    pos = 0
    for split, n in splits:
        images, annotations = [], []
        ann_id = 1
        n_crowd = n_empty_img = 0
        for img_info, anns in results[pos:pos + n]:
            images.append(img_info)
            if not anns:
                n_empty_img += 1
            for a in anns:
                entry = dict(id=ann_id, image_id=img_info['id'], category_id=1)
                entry.update(a)
                annotations.append(entry)
                ann_id += 1
                n_crowd += int(a['iscrowd'])
        pos += n
        data = dict(
            info=dict(description='ER-Pose synthetic person keypoints', version='1.0',
                      year=2024, contributor='erpose_mm.datasets.synthetic',
                      seed=int(seed), split=split, difficulty=difficulty),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=[COCO_PERSON_CATEGORY])
        ann_file = osp.join(ann_dir, f'person_keypoints_{split}.json')
        with open(ann_file, 'w') as f:
            json.dump(data, f, separators=(',', ':'))
        summary[split] = dict(ann_file=ann_file, img_dir=osp.join(out_dir, split),
                              num_images=len(images), num_annotations=len(annotations),
                              num_persons=len(annotations) - n_crowd, num_crowd=n_crowd,
                              num_empty_images=n_empty_img)
    return summary
