"""Figure geometry: keypoints and drawing primitives of one articulated 2D person.

:class:`Figure` places the 17 COCO keypoints from a body and a pose
(:mod:`.pose`) and lists the primitives that draw it (tapered capsules for limbs,
polygons for torso and pelvis, ellipses for the head and ears, eyes, nose and mouth at
the facial keypoints). :meth:`Figure.draw_labels` rasterises them into a label map of
part ids (:data:`ID_SKIN`, :data:`ID_SHIRT`, ...) through :class:`LabelCanvas`; the
colours are chosen later (:mod:`.render`).
"""
import math
from typing import Tuple

import cv2
import numpy as np

from .coco_format import (LANK, LEAR, LELB, LEYE, LHIP, LKNE, LSHO, LWRI, NOSE, RANK,
                          REAR, RELB, REYE, RHIP, RKNE, RSHO, RWRI)
from .pose import unit_direction


# label-map part ids (index into the per-person palette)
(ID_OUTLINE, ID_SKIN, ID_SHIRT, ID_PANTS, ID_SHOES, ID_HAIR, ID_PUPIL, ID_NOSE,
 ID_SCLERA, ID_EAR, ID_FOREARM, ID_HAND, ID_MOUTH, ID_SHIN) = range(1, 15)
NUM_PART_IDS = 16


def ellipse_points(c, rx, ry, u, w, a0=0.0, a1=360.0, n=36) -> np.ndarray:
    """Points of an ellipse (arc) with axes along unit vectors ``u`` (rx), ``w`` (ry).

    Angles in degrees; -90 is the ``-w`` direction ("top of the head")."""
    a = np.radians(np.linspace(a0, a1, n, endpoint=(a1 - a0) < 360.0))
    return (np.asarray(c)[None] + np.outer(rx * np.cos(a), u) +
            np.outer(ry * np.sin(a), w))


class LabelCanvas:
    """Draws primitives into a uint8 label map with an offset (sub-pixel, shift=4)."""

    def __init__(self, label: np.ndarray, origin: Tuple[float, float]):
        self.label = label
        self.ox, self.oy = float(origin[0]), float(origin[1])

    def _p(self, pts):
        pts = np.asarray(pts, dtype=np.float64) - np.array([self.ox, self.oy])
        return np.round(pts * 16.0).astype(np.int32)

    def _q(self, p):
        return (int(round((p[0] - self.ox) * 16.0)), int(round((p[1] - self.oy) * 16.0)))

    def circle(self, c, r, val) -> None:
        """Filled circle of radius ``r`` at ``c`` (image pixels) with label ``val``."""
        cv2.circle(self.label, self._q(c), max(int(round(r * 16)), 1), int(val), -1,
                   cv2.LINE_8, 4)

    def capsule(self, p1, p2, r1, r2, val) -> None:
        """Tapered capsule from ``p1`` (radius ``r1``) to ``p2`` (radius ``r2``)."""
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

    def poly(self, pts, val, convex=False) -> None:
        """Filled polygon of (N, 2) points ``pts``."""
        p = self._p(pts)
        if convex:
            cv2.fillConvexPoly(self.label, p, int(val), cv2.LINE_8, 4)
        else:
            cv2.fillPoly(self.label, [p], int(val), cv2.LINE_8, 4)

    def polyline(self, pts, val, thickness, closed=True) -> None:
        """Polyline of (N, 2) points ``pts``, ``thickness`` pixels wide."""
        cv2.polylines(self.label, [self._p(pts)], closed, int(val),
                      max(int(round(thickness)), 1), cv2.LINE_8, 4)


class Figure:
    """An articulated figure: keypoints and drawing primitives in image coordinates.

    Built around the pelvis at (0, 0); :meth:`translate` places it. Attributes: ``kpts``
    (17, 2) COCO keypoints, ``face_visible`` (17,) bool (eyes / ears turned away are
    False), ``ext`` (4,) extent x0, y0, x1, y1 with margin, ``head`` (centre, right and
    down unit vectors, radii), ``prims`` the drawing primitives in order.
    """

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
        ux = unit_direction(rho + 90)  # pelvis lateral (person's left = image right when upright)
        down_p = unit_direction(rho)
        ut = unit_direction(tau + 90)
        up_t = unit_direction(tau + 180)
        neck = P + up_t * b['torso']
        kp[LHIP] = P + ux * b['hw'] / 2 * cb
        kp[RHIP] = P - ux * b['hw'] / 2 * cb
        kp[LSHO] = neck + ut * b['sw'] / 2 * cb
        kp[RSHO] = neck - ut * b['sw'] / 2 * cb

        arm_base = tau if p['arm_base'] == 'torso' else rho
        hand_tips, foot_tips = [], []
        for k, (sho, elb, wri) in enumerate(((LSHO, LELB, LWRI), (RSHO, RELB, RWRI))):
            tu, tf, fu, ff = p['arm'][k]
            kp[elb] = kp[sho] + unit_direction(arm_base + tu) * b['upper_arm'] * fu
            kp[wri] = kp[elb] + unit_direction(arm_base + tf) * b['forearm'] * ff
            hand_tips.append(kp[wri] + unit_direction(arm_base + tf + p['hand'][k]) * b['hand'])
        for k, (hip, kne, ank) in enumerate(((LHIP, LKNE, LANK), (RHIP, RKNE, RANK))):
            tt, ts, ft, fs = p['leg'][k]
            kp[kne] = kp[hip] + unit_direction(rho + tt) * b['thigh'] * ft
            kp[ank] = kp[kne] + unit_direction(rho + ts) * b['shin'] * fs
            fa, fl = p['foot'][k]
            foot_tips.append(kp[ank] + unit_direction(rho + fa) * b['foot'] * fl)

        # head frame
        roll = tau + p['tilt']
        hu, hw = unit_direction(roll + 90), unit_direction(roll)  # head right / head down
        rx, ry = b['rx'], b['ry']
        hc = neck + unit_direction(roll + 180) * (b['neck'] + ry * 0.85)
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
        cap = ellipse_points(hc, rx + ol * 0.5, ry + ol * 0.5, hu, hw, -160 + shift,
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

    def translate(self, t) -> None:
        """Move the figure (keypoints, extents, primitives) by ``t`` = (dx, dy) pixels."""
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

    def draw_labels(self, cv: LabelCanvas) -> None:
        """Rasterise the primitives into ``cv``'s label map as part ids (outlines first,
        in drawing order, so later parts cover earlier ones)."""
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
                    cv.poly(ellipse_points(c, rx + ol, ry + ol, hu, hw), ID_OUTLINE,
                            convex=True)
                cv.poly(ellipse_points(c, rx, ry, hu, hw), pid, convex=True)
            elif kind == 'eye':
                _, _, c, rx, ry, hu, hw, rp = pr
                if rx >= 1.0:
                    cv.poly(ellipse_points(c, rx, ry, hu, hw, n=16), ID_SCLERA, convex=True)
                cv.circle(c, max(rp, 0.5), ID_PUPIL)
            elif kind == 'dot':
                cv.circle(pr[2], max(pr[3], 0.5), pid)
            elif kind == 'line':
                p = np.stack([pr[2], pr[3]])
                cv.polyline(p, pid, pr[4], closed=False)
