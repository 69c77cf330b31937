"""Body and pose model: proportions and joint angles of one synthetic person.

:func:`sample_body` draws body proportions in pixels for a standing height (adults and
child-like bodies with a larger head); :func:`sample_pose` draws the joint angles of a
named pose (:data:`POSES`). Angles are in degrees with 0 pointing down the image and +90
to the image's right; :class:`~.figure.Figure` turns a body and a pose into keypoints.
"""
import math

import numpy as np

POSES = ('standing', 'walking', 'sitting', 'arms_raised', 'leaning', 'lying',
         'dancing')
POSE_WEIGHTS = np.array([0.22, 0.18, 0.13, 0.13, 0.12, 0.09, 0.13])


def unit_direction(theta_deg: float) -> np.ndarray:
    """Unit vector for an angle in degrees: 0 = image down, +90 = image right."""
    t = math.radians(theta_deg)
    return np.array([math.sin(t), math.cos(t)])


def uniform(rng, a, b) -> float:
    """One float drawn uniformly from [a, b)."""
    return float(rng.uniform(a, b))


def sample_body(rng, height: float) -> dict:
    """Body proportions (pixels) for a person of the given standing height."""
    child = rng.random() < 0.12
    H = height
    head_h = uniform(rng, 0.16, 0.19) if child else uniform(rng, 0.12, 0.145)
    ry = head_h * H / 2
    bulk = uniform(rng, 0.85, 1.25)
    r_ua = uniform(rng, 0.03, 0.04) * H * bulk
    r_th = uniform(rng, 0.045, 0.06) * H * bulk
    return dict(
        H=H,
        ry=ry,
        rx=ry * uniform(rng, 0.74, 0.86),
        neck=uniform(rng, 0.025, 0.045) * H,
        torso=uniform(rng, 0.27, 0.31) * H,
        sw=uniform(rng, 0.2, 0.25) * H * (0.9 if child else 1.0),
        hw=uniform(rng, 0.12, 0.16) * H,
        upper_arm=uniform(rng, 0.16, 0.19) * H,
        forearm=uniform(rng, 0.14, 0.16) * H,
        hand=uniform(rng, 0.06, 0.08) * H,
        thigh=uniform(rng, 0.22, 0.25) * H,
        shin=uniform(rng, 0.21, 0.24) * H,
        foot=uniform(rng, 0.08, 0.1) * H,
        r_ua=r_ua,
        r_fa=r_ua * uniform(rng, 0.75, 0.9),
        r_th=r_th,
        r_sh=r_th * uniform(rng, 0.7, 0.82),
        outline=max(1.0, 0.008 * H) if H >= 24 else 0.0,
    )


def _arms_hanging(rng, p, i=None):
    for k, s in enumerate((1, -1)):
        if i is not None and k != i:
            continue
        a = uniform(rng, 3, 35)
        p['arm'][k] = [s * a, s * (a + uniform(rng, -60, 25)),
                       uniform(rng, 0.85, 1), uniform(rng, 0.6, 1)]


def _legs_standing(rng, p, spread=12.0):
    for k, s in enumerate((1, -1)):
        a = uniform(rng, 0, spread)
        sh = max(a + uniform(rng, -8, 4), -4.0)
        p['leg'][k] = [s * a, s * sh, uniform(rng, 0.9, 1), uniform(rng, 0.9, 1)]


def _feet_front(rng, p):
    for k, s in enumerate((1, -1)):
        p['foot'][k] = [s * uniform(rng, 20, 75), uniform(rng, 0.45, 0.8)]


def _feet_side(rng, p, d):
    for k in range(2):
        p['foot'][k] = [d * uniform(rng, 70, 100), uniform(rng, 0.85, 1.0)]


def sample_pose(rng, name: str) -> dict:
    """Joint angles (degrees, 0 = down, + = image right) for a named pose."""
    p = dict(name=name, rho=uniform(rng, -6, 6), lean=uniform(rng, -5, 5),
             beta=float(np.clip(rng.normal(0, 15), -45, 45)), psi=None,
             tilt=uniform(rng, -15, 15), arm_base='torso', arm=[None, None],
             leg=[None, None], foot=[None, None], hand=[uniform(rng, -20, 20) for _ in '01'])
    if name == 'standing':
        _arms_hanging(rng, p)
        _legs_standing(rng, p)
        _feet_front(rng, p)
    elif name == 'walking':
        d = 1 if rng.random() < 0.5 else -1
        p['beta'] = d * uniform(rng, 15, 70)
        p['lean'] = -d * uniform(rng, 0, 8)
        fwd = int(rng.integers(2))  # index of the forward leg
        for k in range(2):
            if k == fwd:
                t = d * uniform(rng, 10, 30)
                p['leg'][k] = [t, t - d * uniform(rng, 0, 20),
                               uniform(rng, 0.85, 1), uniform(rng, 0.9, 1)]
                u = -d * uniform(rng, 5, 25)  # opposite arm swings back
                p['arm'][k] = [u, u + d * uniform(rng, 0, 20),
                               uniform(rng, 0.8, 1), uniform(rng, 0.8, 1)]
            else:
                t = -d * uniform(rng, 5, 25)
                p['leg'][k] = [t, t - d * uniform(rng, 10, 45),
                               uniform(rng, 0.85, 1), uniform(rng, 0.9, 1)]
                u = d * uniform(rng, 5, 30)
                p['arm'][k] = [u, u + d * uniform(rng, 5, 50),
                               uniform(rng, 0.8, 1), uniform(rng, 0.7, 1)]
        _feet_side(rng, p, d)
    elif name == 'sitting':
        style = rng.random()
        if style < 0.45:  # facing the camera, thighs towards the viewer
            for k, s in enumerate((1, -1)):
                a = uniform(rng, 10, 50)
                p['leg'][k] = [s * a, s * uniform(rng, -5, 20), uniform(rng, 0.25, 0.55),
                               uniform(rng, 0.85, 1)]
                u = uniform(rng, 0, 25)
                p['arm'][k] = [s * u, s * (u - uniform(rng, 30, 90)), uniform(rng, 0.8, 1),
                               uniform(rng, 0.6, 1)]
            _feet_front(rng, p)
        elif style < 0.65:  # cross-legged
            for k, s in enumerate((1, -1)):
                a = uniform(rng, 55, 85)
                p['leg'][k] = [s * a, -s * uniform(rng, 50, 85), uniform(rng, 0.6, 0.9),
                               uniform(rng, 0.6, 0.9)]
                u = uniform(rng, 5, 30)
                p['arm'][k] = [s * u, s * (u - uniform(rng, 20, 80)), uniform(rng, 0.8, 1),
                               uniform(rng, 0.7, 1)]
                p['foot'][k] = [-s * uniform(rng, 60, 100), uniform(rng, 0.4, 0.7)]
        else:  # seen from the side (three-quarter / profile)
            d = 1 if rng.random() < 0.5 else -1
            p['beta'] = d * uniform(rng, 40, 75)
            p['lean'] = -d * uniform(rng, -15, 10)
            for k in range(2):
                t = d * uniform(rng, 65, 100)
                p['leg'][k] = [t, uniform(rng, -15, 15),
                               uniform(rng, 0.85, 1), uniform(rng, 0.85, 1)]
                u = d * uniform(rng, 0, 40)
                p['arm'][k] = [u, u + d * uniform(rng, 20, 80),
                               uniform(rng, 0.8, 1), uniform(rng, 0.7, 1)]
            _feet_side(rng, p, d)
    elif name == 'arms_raised':
        for k, s in enumerate((1, -1)):
            if rng.random() < 0.85:
                a = uniform(rng, 100, 175)
                p['arm'][k] = [s * a, s * min(a + uniform(rng, -50, 30), 185.0),
                               uniform(rng, 0.85, 1), uniform(rng, 0.8, 1)]
            else:
                _arms_hanging(rng, p, k)
        _legs_standing(rng, p, spread=25.0)
        _feet_front(rng, p)
    elif name == 'leaning':
        _legs_standing(rng, p, spread=18.0)
        _feet_front(rng, p)
        p['lean'] = (1 if rng.random() < 0.5 else -1) * uniform(rng, 15, 60)
        p['arm_base'] = 'world'
        for k, s in enumerate((1, -1)):
            a = uniform(rng, -15, 30)
            p['arm'][k] = [s * a, s * (a + uniform(rng, -40, 20)), uniform(rng, 0.85, 1),
                           uniform(rng, 0.7, 1)]
    elif name == 'lying':
        base = ('standing', 'arms_raised', 'dancing', 'walking')[int(rng.integers(4))]
        p = sample_pose(rng, base)
        p['name'] = 'lying'
        p['rho'] = (1 if rng.random() < 0.5 else -1) * uniform(rng, 65, 115)
        p['arm_base'] = 'torso'
    elif name == 'dancing':
        for k, s in enumerate((1, -1)):
            a = uniform(rng, -30, 180)
            p['arm'][k] = [s * a, s * (a + uniform(rng, -120, 60)), uniform(rng, 0.7, 1),
                           uniform(rng, 0.6, 1)]
            t = uniform(rng, -15, 70)
            p['leg'][k] = [s * t, s * (t + uniform(rng, -70, 30)), uniform(rng, 0.6, 1),
                           uniform(rng, 0.7, 1)]
        _feet_front(rng, p)
        p['lean'] = uniform(rng, -20, 20)
        p['rho'] = uniform(rng, -20, 20)
    else:
        raise ValueError(f'unknown pose {name!r}')
    if p['psi'] is None:
        if rng.random() < 0.65:
            psi = float(np.clip(rng.normal(0, 12), -30, 30))
        else:
            psi = (1 if rng.random() < 0.5 else -1) * uniform(rng, 30, 80)
        p['psi'] = float(np.clip(psi + 0.5 * p['beta'], -85, 85))
    return p
