"""The per-item checks of :mod:`erpose_mm.datasets.checks`: one image file (decoded as
MMPose's ``LoadImage`` does, libjpeg's damage warnings caught on file descriptor 2) and one
annotation (its keypoints, its box, the json's person category)."""
import math
import os
import os.path as osp
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: libjpeg warnings that mean damaged image data (OpenCV decodes such a file and prints
#: them on stderr); "Invalid SOS parameters" and the like are harmless and not listed
JPEG_DAMAGE = ('Corrupt JPEG data', 'Premature end of JPEG file', 'Huffman')
#: images decoded in parallel under one stderr capture before a damaged one is looked for
_CHUNK = 256


@contextmanager
def captured_stderr():
    """Capture what is written to file descriptor 2 -- libjpeg's warnings, which OpenCV
    lets it print -- while the block runs; yields a list that then holds the text."""
    sys.stderr.flush()
    saved = os.dup(2)
    out = []
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode('utf-8', errors='replace'))


def jpeg_damage(text: str) -> Optional[str]:
    """The first libjpeg warning in ``text`` that means damaged data, else None."""
    for line in text.splitlines():
        if any(m in line for m in JPEG_DAMAGE):
            return line.strip()[:160]
    return None


def _emit_other(text: str) -> None:
    """Write the captured lines that are not JPEG-damage warnings back to stderr."""
    rest = ''.join(line for line in text.splitlines(True)
                   if not any(m in line for m in JPEG_DAMAGE))
    if rest:
        os.write(2, rest.encode())


def check_image_warnings(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """:func:`check_image` that also counts a decoder warning about damaged JPEG data as
    corrupt. Captures file descriptor 2, so call it from one thread at a time."""
    with captured_stderr() as text:
        result = check_image(path)
    damage = jpeg_damage(text[0])
    _emit_other(text[0])
    if result[0] is None and damage:
        return f'corrupt (decoder warning: {damage})', None
    return result


def check_images(paths: Sequence[str], workers: int = 1) -> List[tuple]:
    """:func:`check_image_warnings` of every path: decoded in parallel chunks, each under
    one stderr capture; a chunk whose capture holds a damage warning is decoded again one
    image at a time to find the damaged file(s)."""
    results = []
    with ThreadPoolExecutor(workers) as pool:  # cv2 decodes without the GIL
        for start in range(0, len(paths), _CHUNK):
            chunk = list(paths[start:start + _CHUNK])
            with captured_stderr() as text:
                res = list(pool.map(check_image, chunk))
            if jpeg_damage(text[0]):
                res = [check_image_warnings(p) if r[0] is None else r
                       for p, r in zip(chunk, res)]
            _emit_other(text[0])
            results += res
    return results


def check_image(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """(problem or None, (w, h) as decoded) of one image file, decoded like ``LoadImage``
    (``cv2.imdecode(IMREAD_COLOR)``, which applies EXIF orientation). Decoder warnings
    are not looked at here (:func:`check_image_warnings`)."""
    if not osp.exists(path):
        return 'missing', None
    if osp.isdir(path):
        return 'is a directory', None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        return f'unreadable ({e.strerror or e})', None
    if data.size == 0:
        return 'empty file', None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. beyond OpenCV's pixel limit
        return f'corrupt (decoder error: {str(e).strip().splitlines()[-1][:120]})', None
    if img is None:
        return 'corrupt or not an image (cannot be decoded)', None
    raw = data.tobytes()
    if raw[:2] == b'\xff\xd8' and b'\xff\xd9' not in raw[-4096:]:
        # libjpeg decodes a truncated JPEG with a grey bottom and only a warning
        return 'truncated JPEG (no end marker)', None
    return None, (int(img.shape[1]), int(img.shape[0]))


def sanitize_keypoints(kpts: Sequence[float]) -> Tuple[List[float], int]:
    """Keypoint triples with a NaN/Inf value become (0, 0, 0) (unlabelled): (list, count)."""
    arr = np.asarray(kpts, dtype=np.float64).reshape(-1, 3)
    bad = ~np.isfinite(arr).all(1)
    arr[bad] = 0
    return arr.reshape(-1).tolist(), int(bad.sum())


def keypoints_problem(kpts, num_keypoints: Optional[int]) -> Optional[str]:
    """Why an annotation's ``keypoints`` cannot be trained on (not a list of numbers, not
    ``3 * num_keypoints`` values), else None. NaN/Inf are numbers (made unlabelled)."""
    if not isinstance(kpts, (list, tuple)):
        return f'keypoints is a {type(kpts).__name__}, not a list'
    for i, v in enumerate(kpts):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return (f'keypoint value {i} ({["x", "y", "v"][i % 3]} of keypoint {i // 3}) is '
                    f'{v!r}, not a number')
    if num_keypoints and len(kpts) != 3 * num_keypoints:
        return (f'{len(kpts)} keypoint values ({len(kpts) / 3:g} keypoints); the dataset '
                f'metainfo defines {num_keypoints} keypoints ({3 * num_keypoints} values)')
    if len(kpts) % 3:
        return f'{len(kpts)} keypoint values, not a multiple of 3 (x, y, v)'
    return None


def person_category_ids(categories) -> List:
    """The person category of a COCO json's ``categories``: the one(s) named ``person``,
    else the only one that lists ``keypoints``, else the only category; ``[1]`` (COCO's)
    when the json has none; ``[]`` (not checked) when it cannot tell."""
    cats = [c for c in categories or [] if isinstance(c, dict)]
    if not cats:
        return [1]
    ids = [c.get('id') for c in cats if str(c.get('name', '')).lower() == 'person']
    if not ids:
        with_kpts = [c.get('id') for c in cats if c.get('keypoints')]
        ids = with_kpts if len(with_kpts) == 1 else [cats[0].get('id')] if len(cats) == 1 \
            else []
    return ids


def is_degenerate_box(bbox) -> bool:
    """A COCO xywh box that is missing, non-finite or of zero/negative size."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return True
    try:
        b = np.asarray(bbox, dtype=np.float64)
    except (TypeError, ValueError):
        return True
    return not np.isfinite(b).all() or b[2] <= 0 or b[3] <= 0


def box_from_keypoints(kpts: Sequence[float], area: Optional[float]) -> Optional[List[float]]:
    """Tight xywh box around the labelled (v > 0) keypoints; a zero-size side grows to
    sqrt(area) (centred) when ``area`` > 0; None when it stays degenerate."""
    arr = np.asarray(kpts, dtype=np.float64).reshape(-1, 3)
    pts = arr[arr[:, 2] > 0, :2]
    if not len(pts):
        return None
    lo, hi = pts.min(0), pts.max(0)
    size = hi - lo
    side = math.sqrt(area) if area and np.isfinite(area) and area > 0 else 0.0
    for d in range(2):
        if size[d] <= 0 and side > 0:
            lo[d], size[d] = lo[d] - side / 2, side
    if (size <= 0).any():
        return None
    return [round(float(v), 2) for v in (lo[0], lo[1], size[0], size[1])]
