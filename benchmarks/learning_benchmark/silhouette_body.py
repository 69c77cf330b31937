"""Body model of the silhouette data family: per-person proportions, a pose prior over joint
angles in a torso frame, and the 17 COCO keypoints plus the filled part shapes of one posed
body (geometry only; :mod:`.silhouette_family` paints and labels them).

Frame: image coordinates (x right, y down), the pelvis centre at the origin. The torso axis
leans by ``lean`` (radians, positive tilts its top towards the image's right); a limb
segment's direction is an angle ``phi`` in that frame, measured from the torso's "down"
towards its "right". Figures face the camera turned by ``yaw`` (|yaw| < 1.4, positive turns
them towards the image's right): the person's left side is on the image's right, lateral
offsets shrink by ``cos(yaw)`` and the side turned away (left for yaw > 0) is drawn behind
the torso. Mirroring a figure gives a figure of the same model with left/right swapped.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

# COCO keypoint indices (standard order of the official person_keypoints files)
(NOSE, LEYE, REYE, LEAR, REAR, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE, RKNE,
 LANK, RANK) = range(17)
POSES = ('stand', 'walk', 'sit', 'arms_up', 'bend', 'reach')
# the parts whose pixels show a keypoint (anything else on top of it: v=1)
FACE_PARTS = ('head', 'hair', 'face')


_LIMB_HOME = {LSHO: ('upper',), LELB: ('upper', 'fore'), LWRI: ('fore', 'hand'),
              LHIP: ('thigh',), LKNE: ('thigh', 'shin'), LANK: ('shin', 'foot')}


def home_parts(k: int) -> Tuple[str, ...]:
    """Names of the parts on which keypoint ``k`` (COCO index) counts as visible."""
    if k <= REAR:
        return FACE_PARTS + {LEAR: ('ear_l',), REAR: ('ear_r',)}.get(k, ())
    left = k % 2 == 1
    return tuple(f"{p}_{'l' if left else 'r'}" for p in _LIMB_HOME[k if left else k - 1])


@dataclass
class Part:
    """One filled shape of a figure. ``kind``: 'limb' / 'ellipse_limb' / 'box' (``pts``
    (2, 2) ends, ``widths`` (2,) full widths there),
    'poly' (``pts`` (N, 2)) or 'ellipse' (``pts`` (1, 2) centre, ``widths`` (2,) semi-axes,
    ``angle`` degrees); ``region``: what paints it (shirt, pants, skin, shoes, hair, face)."""
    name: str
    region: str
    kind: str
    pts: np.ndarray
    widths: np.ndarray = field(default_factory=lambda: np.zeros(2))
    angle: float = 0.0


@dataclass
class Figure:
    """A posed body: ``kpts`` (17, 2) pixel coordinates, ``hidden`` (17,) face points turned
    away from the camera, ``parts`` in drawing order (back to front), ``height`` in px."""
    kpts: np.ndarray
    hidden: np.ndarray
    parts: List[Part]
    height: float

    def extent(self) -> np.ndarray:
        """``[x0, y0, x1, y1]`` enclosing every part."""
        lo, hi = [], []
        for p in self.parts:
            r = float(np.max(p.widths)) * (1.0 if p.kind == 'ellipse' else 0.5)
            lo.append(p.pts.min(0) - r)
            hi.append(p.pts.max(0) + r)
        return np.concatenate([np.min(lo, 0), np.max(hi, 0)])


def sample_body(rng: np.random.Generator, height: float) -> Dict[str, float]:
    """Proportions in px of a person ``height`` px tall standing: child or adult (head 16-21%
    or 12-14.5% of the height), slim to stocky (``build`` 0.75-1.35 scales widths)."""
    u = rng.uniform
    child = rng.random() < 0.2
    build = u(0.75, 1.35)
    head_h = u(0.165, 0.21) if child else u(0.12, 0.145)
    torso = u(0.27, 0.31) if child else u(0.29, 0.33)
    neck, ankle = u(0.025, 0.045), 0.035
    leg = 1.0 - head_h - neck - torso - ankle
    thigh = leg * u(0.49, 0.53)
    f = 0.93 if child else 1.0
    b = dict(head_h=head_h, head_w=head_h * u(0.74, 0.88), head_d=head_h * u(0.85, 0.95),
             neck=neck, torso=torso, ankle=ankle, thigh=thigh, shin=leg - thigh,
             upper=u(0.165, 0.19) * f, fore=u(0.14, 0.16) * f, hand=u(0.045, 0.06),
             sho_w=u(0.2, 0.25) * (0.85 + 0.15 * build), hip_w=u(0.1, 0.14) * (0.8 + 0.2 * build),
             w_upper=0.05 * build, w_fore=0.04 * build, w_hand=0.038, w_thigh=0.075 * build,
             w_shin=0.055 * build, foot=u(0.07, 0.09), waist=u(0.85, 1.05),
             depth=u(0.5, 0.7) * (0.8 + 0.2 * build), hair=float(rng.random() < 0.8))
    ratios = ('hair', 'waist', 'depth')  # unitless: hair or not, waist / hips, depth / width
    return {k: (v if k in ratios else v * height) for k, v in b.items()} | dict(height=height)


def sample_pose(rng: np.random.Generator, name: str) -> Dict[str, object]:
    """Joint angles of pose class ``name`` (see :data:`POSES`): ``yaw``, ``lean``, ``tilt``
    (head), ``phi[segment]`` (torso-frame directions of ``upper_l``, ``fore_l``, ...,
    ``shin_r``) and ``fs[segment]`` (foreshortening factors, 1 = in the image plane)."""
    u = rng.uniform
    f = 1.0 if rng.random() < 0.5 else -1.0  # facing direction of side views
    phi: Dict[str, float] = {}
    yaw, lean, tilt = float(np.clip(rng.normal(0, 0.35), -1.0, 1.0)), rng.normal(0, 0.05), \
        rng.normal(0, 0.12)

    def stand_arm(s):
        if rng.random() < 0.25:  # hand on the hip
            up = s * u(0.5, 0.8)
            return up, up - s * u(1.6, 2.1)
        up = s * u(0.05, 0.4)
        return up, up + s * u(-0.15, 0.35)

    def stand_leg(s, spread=0.15):
        return s * u(0.0, spread), s * u(-0.05, 0.1)

    for s, side in ((1.0, 'l'), (-1.0, 'r')):
        phi[f'upper_{side}'], phi[f'fore_{side}'] = stand_arm(s)
        phi[f'thigh_{side}'], phi[f'shin_{side}'] = stand_leg(s)
    fs = {k: 1.0 for k in phi}
    if name == 'walk':
        yaw, lean, sw = f * u(0.7, 1.35), f * u(0, 0.12), u(0.2, 0.5)
        front = 'l' if rng.random() < 0.5 else 'r'
        back = 'r' if front == 'l' else 'l'
        phi[f'thigh_{front}'] = f * sw
        phi[f'shin_{front}'] = f * sw * u(0, 0.5)
        phi[f'thigh_{back}'] = -f * sw * u(0.6, 1.0)
        phi[f'shin_{back}'] = phi[f'thigh_{back}'] - f * u(0.2, 0.9)
        phi[f'upper_{front}'] = -f * sw * u(0.5, 1.0)
        phi[f'fore_{front}'] = phi[f'upper_{front}'] + f * u(0.1, 0.5)
        phi[f'upper_{back}'] = f * sw * u(0.5, 1.0)
        phi[f'fore_{back}'] = phi[f'upper_{back}'] + f * u(0.2, 0.9)
    elif name == 'sit':
        if rng.random() < 0.5:  # frontal: thighs point at the camera
            for s, side in ((1.0, 'l'), (-1.0, 'r')):
                phi[f'thigh_{side}'], fs[f'thigh_{side}'] = s * u(0.05, 0.3), u(0.2, 0.45)
                phi[f'shin_{side}'] = s * u(-0.1, 0.2)
                phi[f'upper_{side}'] = s * u(0.05, 0.3)
                phi[f'fore_{side}'], fs[f'fore_{side}'] = -s * u(0.2, 1.0), u(0.6, 1.0)
        else:
            yaw, lean = f * u(0.8, 1.35), -f * u(-0.1, 0.2)
            for side in 'lr':
                phi[f'thigh_{side}'] = f * u(1.35, 1.7)
                phi[f'shin_{side}'] = f * u(-0.3, 0.3)
                phi[f'upper_{side}'] = f * u(0.0, 0.5)
                phi[f'fore_{side}'] = f * u(1.0, 1.6)
    elif name == 'arms_up':
        both = rng.random() < 0.6
        for s, side in ((1.0, 'l'), (-1.0, 'r')):
            if both or side == ('l' if f > 0 else 'r'):
                phi[f'upper_{side}'] = s * u(2.3, 3.0)
                phi[f'fore_{side}'] = phi[f'upper_{side}'] + s * u(-0.5, 0.6)
            phi[f'thigh_{side}'], phi[f'shin_{side}'] = stand_leg(s, 0.3)
    elif name == 'bend':
        yaw, lean = f * u(0.75, 1.35), f * u(0.5, 1.3)
        tilt = -f * u(0.0, 0.6)
        for side in 'lr':  # legs and hanging arms stay vertical in the image (phi = lean)
            phi[f'thigh_{side}'] = lean + f * u(-0.1, 0.25)
            phi[f'shin_{side}'] = lean + f * u(-0.25, 0.05)
            phi[f'upper_{side}'] = lean + u(-0.35, 0.35)
            phi[f'fore_{side}'] = phi[f'upper_{side}'] + f * u(-0.2, 0.5)
    elif name == 'reach':
        yaw, lean = float(np.clip(rng.normal(0, 0.5), -1.2, 1.2)), rng.normal(0, 0.2)
        for s, side in ((1.0, 'l'), (-1.0, 'r')):
            phi[f'upper_{side}'] = s * u(-0.5, 3.0)
            phi[f'fore_{side}'] = phi[f'upper_{side}'] + u(-1.6, 1.6)
            phi[f'thigh_{side}'] = s * u(-0.15, 0.8)
            phi[f'shin_{side}'] = phi[f'thigh_{side}'] + s * u(-1.0, 0.4)
    for k in fs:  # a limb pointing towards / away from the camera now and then
        if fs[k] == 1.0 and rng.random() < 0.12:
            fs[k] = u(0.45, 0.85)
    return dict(yaw=float(yaw), lean=float(lean), tilt=float(tilt), phi=phi, fs=fs)


def pose_figure(b: Dict[str, float], p: Dict[str, object], limb_style: str = 'limb') -> Figure:
    """Keypoints and parts of body ``b`` (:func:`sample_body`) in pose ``p``
    (:func:`sample_pose`), pelvis centre at the origin. ``limb_style``: 'limb' (tapered
    capsules), 'ellipse_limb' (rotated ellipses) or 'box' (rectangles) for arms and legs."""
    lean, yaw, phi, fs = p['lean'], p['yaw'], p['phi'], p['fs']
    up, rt = np.array([math.sin(lean), -math.cos(lean)]), np.array([math.cos(lean), math.sin(lean)])
    c, s = math.cos(yaw), math.sin(yaw)
    kp = np.zeros((17, 2))
    hidden = np.zeros(17, bool)

    def d(a):
        return -math.cos(a) * up + math.sin(a) * rt

    neck_base = up * b['torso']
    sides = {'l': 1.0, 'r': -1.0}
    limbs: Dict[str, List[Part]] = {}
    for side, sg in sides.items():
        o = 0 if side == 'l' else 1
        sho = neck_base - up * 0.025 * b['height'] + sg * rt * (b['sho_w'] / 2 * c)
        hip = sg * rt * (b['hip_w'] / 2 * c)
        elb = sho + d(phi[f'upper_{side}']) * b['upper'] * fs[f'upper_{side}']
        wri = elb + d(phi[f'fore_{side}']) * b['fore'] * fs[f'fore_{side}']
        knee = hip + d(phi[f'thigh_{side}']) * b['thigh'] * fs[f'thigh_{side}']
        ank = knee + d(phi[f'shin_{side}']) * b['shin'] * fs[f'shin_{side}']
        hand = wri + d(phi[f'fore_{side}']) * b['hand']
        face = 1.0 if yaw >= 0 else -1.0
        toe = ank + np.array([face * b['foot'] * abs(s) + sg * 0.25 * b['foot'] * c,
                              0.8 * b['ankle']])
        kp[[LSHO + o, LELB + o, LWRI + o, LHIP + o, LKNE + o, LANK + o]] = \
            [sho, elb, wri, hip, knee, ank]
        sleeve = b['w_fore']
        limbs[side] = [
            Part(f'thigh_{side}', 'pants', limb_style, np.array([hip, knee]),
                 np.array([b['w_thigh'], b['w_thigh'] * 0.85])),
            Part(f'shin_{side}', 'shins', limb_style, np.array([knee, ank]),
                 np.array([b['w_shin'], b['w_shin'] * 0.75])),
            Part(f'foot_{side}', 'shoes', 'limb', np.array([ank, toe]),
                 np.array([b['w_shin'] * 0.8, b['w_shin'] * 0.7])),
            Part(f'upper_{side}', 'shirt', limb_style, np.array([sho, elb]),
                 np.array([b['w_upper'], b['w_upper'] * 0.85])),
            Part(f'fore_{side}', 'sleeves', limb_style, np.array([elb, wri]),
                 np.array([sleeve, sleeve * 0.8])),
            Part(f'hand_{side}', 'skin', 'limb', np.array([wri, hand]),
                 np.array([b['w_hand'], b['w_hand'] * 0.8]))]
    # torso polygon: half-widths seen at this yaw (width and depth of an elliptic body)
    def half(w):
        return math.hypot(w / 2 * c, w * b['depth'] / 2 * s)
    hs, hh = half(b['sho_w'] + 0.8 * b['w_upper']), half(b['hip_w'] + 1.1 * b['w_thigh'])
    hw = min(hs, hh) * b['waist']
    levels = [(neck_base, 0.8 * hs), (neck_base - up * 0.05 * b['height'], hs),
              (up * 0.45 * b['torso'], hw), (-up * 0.045 * b['height'], hh)]
    poly = np.array([q + rt * w for q, w in levels] + [q - rt * w for q, w in levels[::-1]])
    # head: an ellipse on a tilted neck; face points on a circle turned by yaw
    a = lean + p['tilt']
    uh, rh = np.array([math.sin(a), -math.cos(a)]), np.array([math.cos(a), math.sin(a)])
    R = math.hypot(b['head_w'] / 2 * c, b['head_d'] / 2 * s)
    ctr = neck_base + uh * (b['neck'] + b['head_h'] * 0.5)
    for k, th, rr, hgt, lim in ((NOSE, 0.0, 1.02, -0.12, 0.0), (LEYE, 0.45, 0.85, 0.06, 0.15),
                                (REYE, -0.45, 0.85, 0.06, 0.15),
                                (LEAR, math.pi / 2, 0.97, 0.0, -0.3),
                                (REAR, -math.pi / 2, 0.97, 0.0, -0.3)):
        kp[k] = ctr + rh * (R * rr * math.sin(th + yaw)) - uh * (hgt * b['head_h'])
        hidden[k] = math.cos(th + yaw) < lim
    head = [Part('neck', 'skin', 'limb', np.array([neck_base - up * 0.02 * b['height'],
                                                     ctr]), np.full(2, 0.38 * b['head_w'])),
            Part('head', 'skin', 'ellipse', ctr[None], np.array([R, b['head_h'] / 2]),
                 math.degrees(a))]
    if b['hair']:
        cap = ctr + uh * 0.18 * b['head_h']
        head.append(Part('hair', 'hair', 'ellipse', cap[None],
                         np.array([R * 1.03, b['head_h'] * 0.36]), math.degrees(a)))
    for k, side in ((LEAR, 'l'), (REAR, 'r')):
        if not hidden[k]:
            head.append(Part(f'ear_{side}', 'skin', 'ellipse', kp[k][None],
                             np.array([0.12, 0.2]) * b['head_h'], math.degrees(a)))
    for k in (LEYE, REYE, NOSE):
        if not hidden[k]:
            r = max(0.6, (0.05 if k == NOSE else 0.055) * b['head_h'])
            head.append(Part('face', 'face' if k != NOSE else 'nose', 'ellipse', kp[k][None],
                             np.array([r, r]), 0.0))
    # back to front: far side, torso and head, near side (both near when seen from the front)
    far = ('l' if yaw > 0 else 'r') if abs(yaw) > 0.3 else None
    order = []
    if far:
        order += limbs[far]
    order += [Part('torso', 'shirt', 'poly', poly)] + head
    for side in ('l', 'r'):
        if side != far:
            order += limbs[side][:3]
    for side in ('l', 'r'):
        if side != far:
            order += limbs[side][3:]
    return Figure(kp, hidden, order, b['height'])
