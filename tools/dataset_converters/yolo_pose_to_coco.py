#!/usr/bin/env python
"""Convert a YOLO-pose (Ultralytics) label folder into a COCO keypoint json for MMPose.

    python tools/dataset_converters/yolo_pose_to_coco.py --images DATA/images/train \\
        --metainfo configs/erpose/_base_/metainfo/synthetic5.py --out DATA/annotations/train.json

YOLO-pose labels: one ``.txt`` per image (``labels/`` beside ``images/``, same relative
path), one line per object: ``class cx cy w h x_1 y_1 [v_1] ... x_K y_K [v_K]``, all
coordinates normalised to [0, 1] by the image width / height. ``v``: 0 not labelled,
1 labelled but occluded, 2 visible (COCO's convention, which Ultralytics uses). Without
``v`` (``--kpt-dim 2``) a keypoint at exactly (0, 0) is unlabelled, any other visible.

Written: COCO ``images`` (file names relative to ``--images``, sizes read from the
files), ``annotations`` (``bbox`` [x, y, w, h] px, ``area`` = box area, ``keypoints``
[x, y, v] x K px, ``num_keypoints``, ``iscrowd`` 0) and one category with the keypoint
names and 1-based ``skeleton`` of ``--metainfo`` (an MMPose dataset metainfo file; its
keypoint count K is what every line must have). Images without a label file are kept as
images without people. Lines of other classes are skipped (``--class-id``, counted).
Any malformed line stops the conversion with one line naming the file and line; a missing
folder or metainfo file, or an ``--out`` that exists, likewise (exit status 2).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: normalised coordinates may overshoot [0, 1] by this much (rounding in label tools);
#: they are clipped, anything further is refused
COORD_TOLERANCE = 1e-3


#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def refuse(line: str):
    """Print ``line`` (one line, ``error: FILE: problem``) on stderr and exit with status 2."""
    print(line, file=sys.stderr)
    sys.exit(REFUSAL_STATUS)


class LabelError(ValueError):
    """A label file or the metainfo is malformed; the message is one line."""


def read_metainfo(path: str) -> Tuple[List[str], List[Tuple[int, int]], str]:
    """Keypoint names (id order), skeleton links (0-based id pairs) and dataset name of an
    MMPose metainfo file (``dataset_info = dict(keypoint_info=..., skeleton_info=...)``)."""
    from mmengine.config import Config
    try:
        info = Config.fromfile(path).dataset_info
    except Exception as e:
        raise LabelError(f'{path}: not a readable MMPose metainfo file ({e})') from None
    kinfo = info.get('keypoint_info', {})
    names = [kinfo[i]['name'] for i in sorted(kinfo)]
    if not names:
        raise LabelError(f'{path}: no keypoint_info')
    ids = {n: i for i, n in enumerate(names)}
    links = []
    for link in info.get('skeleton_info', {}).values():
        a, b = link['link']
        if a not in ids or b not in ids:
            raise LabelError(f'{path}: skeleton link {a}-{b} names an unknown keypoint')
        links.append((ids[a], ids[b]))
    return names, links, str(info.get('dataset_name', 'custom'))


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) of an image file."""
    import cv2
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise LabelError(f'{path}: not a readable image')
    return int(img.shape[1]), int(img.shape[0])


def parse_label_line(values: List[str], num_keypoints: int, kpt_dim: int, width: int,
                     height: int, where: str) -> Tuple[int, dict]:
    """One YOLO-pose line -> (class id, COCO annotation fields in pixels)."""
    expected = 5 + num_keypoints * kpt_dim
    if len(values) != expected:
        raise LabelError(f'{where}: {len(values)} values, expected 5 + K x {kpt_dim} = '
                         f'{expected} for K={num_keypoints} keypoints (the metainfo\'s count)')
    try:
        cls = int(float(values[0]))
        nums = [float(v) for v in values[1:]]
    except ValueError:
        raise LabelError(f'{where}: non-numeric value') from None

    def coord(v: float, what: str) -> float:
        if not -COORD_TOLERANCE <= v <= 1 + COORD_TOLERANCE:
            raise LabelError(f'{where}: {what} {v} is outside [0, 1] (coordinates must be '
                             f'normalised by the image size)')
        return min(max(v, 0.0), 1.0)

    cx, cy = coord(nums[0], 'box x'), coord(nums[1], 'box y')
    bw, bh = coord(nums[2], 'box width'), coord(nums[3], 'box height')
    x0, y0 = max(cx - bw / 2, 0.0) * width, max(cy - bh / 2, 0.0) * height
    x1, y1 = min(cx + bw / 2, 1.0) * width, min(cy + bh / 2, 1.0) * height
    kpts, labelled = [], 0
    for k in range(num_keypoints):
        x, y = nums[4 + k * kpt_dim], nums[5 + k * kpt_dim]
        if kpt_dim == 3:
            v = nums[6 + k * kpt_dim]
            if v not in (0.0, 1.0, 2.0):
                raise LabelError(f'{where}: keypoint {k} visibility {v} is not 0, 1 or 2')
            v = int(v)
        else:
            v = 0 if x == 0 and y == 0 else 2
        if v == 0:
            kpts += [0.0, 0.0, 0]
            continue
        kpts += [round(coord(x, f'keypoint {k} x') * width, 3),
                 round(coord(y, f'keypoint {k} y') * height, 3), v]
        labelled += 1
    bbox = [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)]
    return cls, dict(bbox=bbox, area=round(bbox[2] * bbox[3], 3), keypoints=kpts,
                     num_keypoints=labelled, iscrowd=0)


def default_labels_dir(images: str) -> str:
    """Ultralytics' convention: the last ``images`` path component becomes ``labels``."""
    parts = osp.normpath(images).split(os.sep)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == 'images':
            parts[i] = 'labels'
            return os.sep.join(parts) or os.sep
    raise LabelError(f'{images}: no "images" folder in the path; give --labels')


def convert(images: str, labels: str, metainfo: str, kpt_dim: int = 3,
            class_id: int = 0) -> Tuple[dict, Dict[str, int]]:
    """Build the COCO dict. Returns (coco, counts) with counts of images, people,
    images without a label file and skipped lines of other classes."""
    names, links, dataset_name = read_metainfo(metainfo)
    K = len(names)
    files = sorted(osp.relpath(osp.join(root, f), images)
                   for root, _, fs in os.walk(images) for f in fs
                   if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise LabelError(f'{images}: no images ({", ".join(IMAGE_EXTS)})')
    coco = dict(images=[], annotations=[], categories=[dict(
        id=1, name='person' if dataset_name in ('coco', 'crowdpose') else dataset_name,
        supercategory=dataset_name, keypoints=names,
        skeleton=[[a + 1, b + 1] for a, b in links])])
    counts = dict(images=len(files), people=0, unlabelled_images=0, other_class_lines=0)
    image_stems = {osp.splitext(f)[0] for f in files}
    for root, _, fs in os.walk(labels):
        for f in fs:
            rel = osp.splitext(osp.relpath(osp.join(root, f), labels))[0]
            if f.endswith('.txt') and rel not in image_stems:
                raise LabelError(f'{osp.join(root, f)}: label file without an image in {images}')
    for image_id, rel in enumerate(files, start=1):
        width, height = image_size(osp.join(images, rel))
        coco['images'].append(dict(id=image_id, file_name=rel, width=width, height=height))
        label = osp.join(labels, osp.splitext(rel)[0] + '.txt')
        if not osp.exists(label):
            counts['unlabelled_images'] += 1
            continue
        with open(label) as fh:
            for n, line in enumerate(fh, start=1):
                values = line.split()
                if not values:
                    continue
                cls, ann = parse_label_line(values, K, kpt_dim, width, height,
                                            f'{label} line {n}')
                if cls != class_id:
                    counts['other_class_lines'] += 1
                    continue
                ann.update(id=len(coco['annotations']) + 1, image_id=image_id, category_id=1)
                coco['annotations'].append(ann)
    counts['people'] = len(coco['annotations'])
    return coco, counts


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', required=True, help='image folder (searched recursively)')
    p.add_argument('--labels', help='YOLO-pose label folder (default: images -> labels)')
    p.add_argument('--metainfo', required=True, help='MMPose dataset metainfo file (.py)')
    p.add_argument('--out', required=True, help='output COCO json (must not exist)')
    p.add_argument('--kpt-dim', type=int, choices=[2, 3], default=3,
                   help="values per keypoint: 3 = x y v (Ultralytics' kpt_shape [K, 3]), 2 = x y")
    p.add_argument('--class-id', type=int, default=0, help='YOLO class to convert')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if osp.exists(args.out):
        refuse(f'error: {args.out} exists; not overwriting it')
    try:
        if not osp.isdir(args.images):
            raise LabelError(f'{args.images}: no such image folder')
        labels = args.labels or default_labels_dir(args.images)
        if not osp.isdir(labels):
            raise LabelError(f'{labels}: no such label folder')
        coco, counts = convert(args.images, labels, args.metainfo, args.kpt_dim,
                               args.class_id)
    except LabelError as e:
        refuse(f'error: {e}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(coco, fh)
    print(f'{args.out}: {counts["images"]} images, {counts["people"]} people with '
          f'{len(coco["categories"][0]["keypoints"])} keypoints; '
          f'{counts["unlabelled_images"]} images without a label file, '
          f'{counts["other_class_lines"]} lines of other classes skipped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
