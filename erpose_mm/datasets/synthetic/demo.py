"""One synthetic multi-person image, for demos, docs and tests that need a picture of
people but no dataset (tools/misc/make_demo_image.py writes it from the command line)."""
import os
import os.path as osp
from typing import List

import cv2
import numpy as np

from .driver import resolve_config
from .scene import generate_image

# RNG stream of demo images: (seed, DEMO_STREAM); dataset images use streams 0 (train)
# and 1 (val), so a demo image never repeats a dataset image of the same seed
DEMO_STREAM = 2


def write_demo_image(path: str, width: int = 640, height: int = 480, seed: int = 0,
                     num_people: int = 3, overwrite: bool = False) -> List[dict]:
    """Draw a multi-person image (people 50-90% of the shorter side tall, partly
    overlapping) and write it to ``path`` (format from the extension, e.g. ``.jpg``).

    Args:
        path: output image file; its folder is created.
        width, height: image size in pixels (16 or more).
        seed: the same seed and size give the same image.
        num_people: people drawn; a person hidden behind others may be left unlabelled.
        overwrite: replace an existing file instead of raising ``FileExistsError``.

    Returns:
        The labelled people as COCO annotations without ids (``keypoints``
        ``[x, y, v] * 17``, ``bbox`` ``[x, y, w, h]``, ``area``, ``num_keypoints``, ...).
    """
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path}: already exists (pass overwrite=True to replace it)')
    if num_people < 1:
        raise ValueError(f'num_people must be >= 1, got {num_people}')
    cfg = resolve_config('medium', min_size=min(width, height), max_size=max(width, height),
                         max_people=num_people, min_people=num_people, occlusion=0.2,
                         scale_range=(0.5, 0.9), crowd_prob=0.0, trunc_prob=0.0,
                         empty_frac=0.0)
    rng = np.random.default_rng([int(seed), DEMO_STREAM, 0])
    img, anns = generate_image(rng, int(width), int(height), cfg, empty=False)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(path, img):
        raise IOError(f'{path}: OpenCV could not write the image (unknown extension?)')
    return anns
