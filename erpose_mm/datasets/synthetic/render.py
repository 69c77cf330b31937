"""Rendering: colours, cloth textures, backgrounds, distractor shapes, image finish.

:func:`render_figure` colours a :class:`~.figure.Figure`'s label map with a random
per-person palette (:func:`sample_palette`; colours never encode the body side) and
writes it into the image and the per-pixel owner map that decides keypoint visibility.
:func:`draw_background`, :func:`draw_shape` and :func:`postprocess_image` make the rest
of the image.
"""
import math
from typing import Optional

import cv2
import numpy as np

from .figure import (ID_EAR, ID_FOREARM, ID_HAIR, ID_HAND, ID_MOUTH, ID_NOSE, ID_OUTLINE,
                     ID_PANTS, ID_PUPIL, ID_SCLERA, ID_SHIN, ID_SHIRT, ID_SHOES, ID_SKIN,
                     NUM_PART_IDS, Figure, LabelCanvas)
from .pose import uniform


_SKIN_TONES_RGB = np.array([(255, 224, 189), (241, 194, 125), (224, 172, 105),
                            (198, 134, 66), (141, 85, 36), (255, 219, 172),
                            (234, 192, 134), (92, 51, 23), (200, 160, 140)],
                           dtype=np.float64)
_HAIR_RGB = np.array([(25, 25, 25), (60, 40, 25), (110, 70, 35), (220, 190, 120),
                      (165, 165, 165), (150, 60, 20)], dtype=np.float64)


def random_color(rng, sat=(0.2, 1.0), val=(0.2, 1.0)) -> np.ndarray:
    """Random BGR colour (float64, 0..255) from HSV."""
    h = rng.uniform(0, 6)
    s = rng.uniform(*sat)
    v = rng.uniform(*val) * 255.0
    i = int(h) % 6
    f = h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb[::-1], dtype=np.float64)


def skin_color(rng) -> np.ndarray:
    """A random skin tone (BGR float64, 0..255)."""
    rgb = _SKIN_TONES_RGB[rng.integers(len(_SKIN_TONES_RGB))] + rng.uniform(-12, 12, 3)
    return np.clip(rgb[::-1], 0, 255)


def _fixed_point(pts) -> np.ndarray:
    """Pixel coordinates as OpenCV fixed-point integers (``shift=4``: 1/16 px)."""
    return np.round(np.asarray(pts, dtype=np.float64) * 16.0).astype(np.int32)


def sample_palette(rng) -> np.ndarray:
    """Per-person palette (BGR float) indexed by part id, plus texture info."""
    pal = np.zeros((NUM_PART_IDS, 3), dtype=np.float64)
    skin = skin_color(rng)
    shirt = random_color(rng)
    pants = random_color(rng, val=(0.15, 0.9))
    pal[ID_OUTLINE] = rng.uniform(10, 60)
    pal[ID_SKIN] = skin
    pal[ID_SHIRT] = shirt
    pal[ID_PANTS] = pants
    pal[ID_SHOES] = random_color(rng, val=(0.05, 0.6))
    if rng.random() < 0.12:
        pal[ID_HAIR] = random_color(rng)  # hat / dyed
    else:
        pal[ID_HAIR] = _HAIR_RGB[rng.integers(len(_HAIR_RGB))][::-1] + rng.uniform(-10, 10)
    pal[ID_PUPIL] = rng.uniform(10, 50, 3)
    pal[ID_NOSE] = skin * uniform(rng, 0.7, 0.82)
    pal[ID_SCLERA] = rng.uniform(215, 250)
    pal[ID_EAR] = skin * uniform(rng, 0.82, 0.92)
    pal[ID_FOREARM] = shirt if rng.random() < 0.6 else skin
    pal[ID_HAND] = skin if rng.random() < 0.9 else random_color(rng)
    pal[ID_MOUTH] = np.array([70, 60, 160]) * uniform(rng, 0.6, 1.0)
    pal[ID_SHIN] = pants if rng.random() < 0.75 else skin
    return np.clip(pal, 0, 255)


def _texture(rng, shape, H) -> Optional[np.ndarray]:
    """A multiplicative texture factor map (float32) or None for plain cloth."""
    kind = rng.integers(5)
    if kind <= 1:
        return None
    h, w = shape
    period = max(2.0, uniform(rng, 0.02, 0.07) * H)
    if kind == 2:  # stripes
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ph = (xx * np.float32(math.cos(ang)) + yy * np.float32(math.sin(ang))) / np.float32(period)
        return np.where((ph % 2.0) < 1.0, np.float32(uniform(rng, 0.55, 0.85)),
                        np.float32(1.0)).astype(np.float32)
    if kind == 3:  # checker
        yy, xx = np.mgrid[0:h, 0:w]
        c = ((xx // int(period) + yy // int(period)) % 2).astype(np.float32)
        return 1.0 - c * np.float32(uniform(rng, 0.2, 0.45))
    # smooth noise
    g = rng.uniform(0.7, 1.2, (max(2, int(h / period) + 2), max(2, int(w / period) + 2)))
    return cv2.resize(g.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def render_figure(rng, fig: Figure, img, owner, owner_val, textured=True):
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
    fig.draw_labels(LabelCanvas(label, (x0, y0)))
    mask = label > 0
    if not mask.any():
        return None, None
    pal = sample_palette(rng)
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
            g = np.linspace(uniform(rng, 0.8, 1.0), uniform(rng, 1.0, 1.15), label.shape[1],
                            dtype=np.float32)
            colour *= g[None, :, None]
        patch[mask] = np.clip(colour[mask], 0, 255).astype(np.uint8)
    owner[y0:y1, x0:x1][mask] = owner_val
    return mask, (x0, y0)


def draw_background(rng, W, H) -> np.ndarray:
    """A random (H, W, 3) uint8 background: gradient, stripes, tiles, wall and floor
    or smooth coloured noise, plus fine noise."""
    kind = int(rng.integers(6))
    c1, c2 = random_color(rng), random_color(rng)
    yy = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    if kind == 0:  # linear gradient
        ang = rng.uniform(0, 2 * np.pi)
        t = xx * np.float32(math.cos(ang)) + yy * np.float32(math.sin(ang))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 1:  # stripes
        ang = rng.uniform(0, np.pi)
        period = uniform(rng, 0.02, 0.25)
        t = (xx * np.float32(W / max(W, H) * math.cos(ang)) +
             yy * np.float32(H / max(W, H) * math.sin(ang))) / np.float32(period)
        t = 0.5 + 0.5 * np.sin(t * np.float32(2 * np.pi))
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
    elif kind == 2:  # checker / tiles
        s = int(rng.integers(8, 80))
        iy = (np.arange(H) // s)[:, None]
        ix = (np.arange(W) // s)[None, :]
        t = ((ix + iy) % 2).astype(np.float32) * np.float32(uniform(rng, 0.3, 1.0))
    elif kind == 3:  # wall and floor
        hz = uniform(rng, 0.3, 0.8)
        t = np.broadcast_to((yy > hz).astype(np.float32) * 0.8 + yy * 0.2, (H, W))
    else:  # smooth coloured noise
        s = int(rng.integers(6, 64))
        g = rng.random((max(2, H // s + 2), max(2, W // s + 2), 3)).astype(np.float32)
        g = cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)
        c3 = random_color(rng)
        img = (c1[None, None] * (1 - g) + c3[None, None] * g).astype(np.float32)
        t = None
    if t is not None:
        t = np.broadcast_to(t, (H, W))[..., None]
        img = c1[None, None].astype(np.float32) * (1 - t) + c2[None, None].astype(
            np.float32) * t
    # fine noise
    sigma = uniform(rng, 0, 14)
    if sigma > 1:
        n = rng.standard_normal((H // 2 + 1, W // 2 + 1, 1), dtype=np.float32)
        n = cv2.resize(n, (W, H), interpolation=cv2.INTER_NEAREST).reshape(H, W, 1)
        img = img + n * np.float32(sigma)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_shape(rng, canvas, W, H, color, size_range, center=None, kind=None):
    """Draw a random non-person shape on ``canvas`` (uint8 image or mask)."""
    if kind is None:
        kind = int(rng.integers(7))
    s = uniform(rng, *size_range) * min(W, H)
    if center is None:
        center = (rng.uniform(0, W), rng.uniform(0, H))
    cx, cy = center
    col = tuple(float(c) for c in np.atleast_1d(color))
    if len(col) == 1:
        col = col[0]
    if kind == 0:  # rectangle
        w, h = s * uniform(rng, 0.3, 1.5), s * uniform(rng, 0.3, 1.5)
        ang = uniform(rng, -30, 30)
        box = cv2.boxPoints(((cx, cy), (w, h), ang))
        cv2.fillConvexPoly(canvas, _fixed_point(box), col, cv2.LINE_AA, 4)
    elif kind == 1:  # circle
        cv2.circle(canvas, tuple(int(v) for v in _fixed_point((cx, cy))), int(s * 8), col, -1,
                   cv2.LINE_AA, 4)
    elif kind == 2:  # ellipse
        axes = (max(1, int(s / 2)), max(1, int(s * uniform(rng, 0.15, 0.5))))
        cv2.ellipse(canvas, (int(cx), int(cy)), axes,
                    uniform(rng, 0, 180), 0, 360, col, -1, cv2.LINE_AA)
    elif kind == 3:  # random polygon
        n = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.3, 0.6, n) * s
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
        cv2.fillPoly(canvas, [_fixed_point(pts)], col, cv2.LINE_AA, 4)
    elif kind == 4:  # thick stick / pole (limb-like hard negative)
        a = rng.uniform(0, np.pi)
        d = np.array([math.cos(a), math.sin(a)]) * s * 0.6
        cv2.line(canvas, tuple(int(v) for v in _fixed_point((cx - d[0], cy - d[1]))),
                 tuple(int(v) for v in _fixed_point((cx + d[0], cy + d[1]))), col,
                 max(2, int(s * uniform(rng, 0.05, 0.15))), cv2.LINE_AA, 4)
    elif kind == 5:  # ring
        cv2.circle(canvas, (int(cx), int(cy)), max(2, int(s / 2)), col,
                   max(1, int(s * uniform(rng, 0.05, 0.2))), cv2.LINE_AA)
    else:  # bent polyline (two or three segments)
        n = int(rng.integers(2, 4))
        pts = [np.array([cx, cy])]
        a = rng.uniform(0, 2 * np.pi)
        for _ in range(n):
            a += rng.uniform(-1.5, 1.5)
            pts.append(pts[-1] + np.array([math.cos(a), math.sin(a)]) * s * 0.4)
        cv2.polylines(canvas, [_fixed_point(np.stack(pts))], False, col,
                      max(2, int(s * uniform(rng, 0.05, 0.12))), cv2.LINE_AA, 4)


def postprocess_image(rng, img: np.ndarray) -> np.ndarray:
    """Camera-like finish: a slight blur (30% of images) and a brightness/contrast change."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), uniform(rng, 0.3, 1.0))
    a, b = uniform(rng, 0.8, 1.15), uniform(rng, -20, 20)
    if abs(a - 1) > 0.03 or abs(b) > 3:
        img = cv2.convertScaleAbs(img, alpha=a, beta=b)
    return img
