"""COCO person-keypoint definitions and the COCO encodings the generator writes.

Keypoint names, skeleton and category follow the official ``person_keypoints_*.json``
files; :func:`rle_uncompressed` and :func:`mask_polygons` encode crowd regions and
figure silhouettes; :func:`write_split_annotations` writes one split's JSON.
"""
import json
from typing import List, Sequence, Tuple

import cv2
import numpy as np

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

# keypoint indices
(NOSE, LEYE, REYE, LEAR, REAR, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE,
 RKNE, LANK, RANK) = range(17)


def rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major run lengths, starting with zeros)."""
    h, w = mask.shape
    flat = mask.reshape(-1, order='F').astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {'counts': [int(c) for c in counts], 'size': [int(h), int(w)]}


def mask_polygons(mask: np.ndarray, origin) -> List[List[float]]:
    """COCO polygons ``[x0, y0, x1, y1, ...]`` of the external contours of ``mask``
    (H, W) bool, shifted by ``origin`` (x, y) into image coordinates."""
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


def write_split_annotations(ann_file: str, split: str, seed: int, difficulty: str,
                            results: Sequence[Tuple[dict, List[dict]]]) -> dict:
    """Write one split's COCO annotation file from per-image results.

    Args:
        ann_file: output path of the JSON file.
        split: ``'train'`` or ``'val'`` (recorded in ``info``).
        seed, difficulty: recorded in ``info``.
        results: per image, in image-id order, ``(image_info, annotations)`` where the
            annotations lack ``id``, ``image_id`` and ``category_id`` (added here, ids
            counted from 1 over the split).

    Returns:
        ``num_images``, ``num_annotations``, ``num_persons`` (iscrowd=0), ``num_crowd``
        and ``num_empty_images`` of the split.
    """
    images, annotations = [], []
    ann_id = 1
    n_crowd = n_empty_img = 0
    for img_info, anns in results:
        images.append(img_info)
        if not anns:
            n_empty_img += 1
        for a in anns:
            entry = dict(id=ann_id, image_id=img_info['id'], category_id=1)
            entry.update(a)
            annotations.append(entry)
            ann_id += 1
            n_crowd += int(a['iscrowd'])
    data = dict(
        # the contributor is the generator's public import path
        info=dict(description='ER-Pose synthetic person keypoints', version='1.0',
                  year=2024, contributor='erpose_mm.datasets.synthetic',
                  seed=int(seed), split=split, difficulty=difficulty),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[COCO_PERSON_CATEGORY])
    with open(ann_file, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
    return dict(num_images=len(images), num_annotations=len(annotations),
                num_persons=len(annotations) - n_crowd, num_crowd=n_crowd,
                num_empty_images=n_empty_img)
