#!/usr/bin/env python
"""Write a COCO keypoint set (or a subset of its keypoints) as a YOLO-pose folder.

    python tools/dataset_converters/coco_to_yolo_pose.py ANN.json IMAGE_DIR OUT_DIR \\
        --split train --keep nose,left_wrist,right_wrist,left_ankle,right_ankle

writes ``OUT_DIR/images/SPLIT/*`` (symbolic links to the images; ``--copy`` copies) and
``OUT_DIR/labels/SPLIT/*.txt`` (``0 cx cy w h x y v ...``, normalised; Ultralytics'
layout), and ``OUT_DIR/data.yaml`` for Ultralytics when absent (``kpt_shape``, ``flip_idx``
from ``left_`` / ``right_`` names). ``--keep`` keeps the named keypoints in the given order
(default: all). People with none of the kept keypoints labelled are dropped. The project
uses it to derive a small set with another keypoint count from the synthetic generator's
17-keypoint data (docs/custom_keypoints.md); ``yolo_pose_to_coco.py`` converts it back.
A missing or malformed json, an unknown ``--keep`` name or a non-empty output folder is
refused with one line naming the file and the problem (exit status 2).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
from collections import defaultdict
from typing import List, Optional


#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def refuse(line: str):
    """Print ``line`` (one line, ``error: FILE: problem``) on stderr and exit with status 2."""
    print(line, file=sys.stderr)
    sys.exit(REFUSAL_STATUS)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ann', help='COCO keypoint json')
    p.add_argument('images', help='folder the json\'s file_name entries are relative to')
    p.add_argument('out', help='YOLO-pose dataset root')
    p.add_argument('--split', default='train', help='subfolder name (train / val)')
    p.add_argument('--keep', help='comma-separated keypoint names to keep, in this order')
    p.add_argument('--copy', action='store_true', help='copy images instead of linking')
    return p.parse_args(argv)


def read_coco(path: str) -> dict:
    """The COCO keypoint json at ``path``; refuses (one line) what cannot be converted."""
    if not osp.isfile(path):
        refuse(f'error: {path}: no such annotation file')
    try:
        with open(path) as fh:
            coco = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        refuse(f'error: {path}: not a readable json file ({type(e).__name__}: '
               f'{str(e).splitlines()[0] if str(e) else e})')
    if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list)
                                             for k in ('images', 'annotations', 'categories')):
        refuse(f'error: {path}: not a COCO annotation file (needs images, annotations and '
               'categories lists)')
    if not coco['categories'] or not coco['categories'][0].get('keypoints'):
        refuse(f'error: {path}: its first category has no keypoints (not a COCO keypoint file)')
    return coco


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    coco = read_coco(args.ann)
    names = coco['categories'][0]['keypoints']
    keep = args.keep.split(',') if args.keep else names
    unknown = [n for n in keep if n not in names]
    if unknown:
        refuse(f'error: {args.ann}: no keypoint named {unknown[0]} (it has {", ".join(names)})')
    idx = [names.index(n) for n in keep]
    img_dir = osp.join(args.out, 'images', args.split)
    lbl_dir = osp.join(args.out, 'labels', args.split)
    for d in (img_dir, lbl_dir):
        if osp.isdir(d) and os.listdir(d):
            refuse(f'error: {d} is not empty; not overwriting it')
        os.makedirs(d, exist_ok=True)
    anns = defaultdict(list)
    for a in coco['annotations']:
        anns[a['image_id']].append(a)
    people = 0
    for img in coco['images']:
        w, h = float(img['width']), float(img['height'])
        src = osp.abspath(osp.join(args.images, img['file_name']))
        dst = osp.join(img_dir, img['file_name'])
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if args.copy:
            shutil.copyfile(src, dst)
        else:
            os.symlink(src, dst)
        lines = []
        for a in anns[img['id']]:
            if a.get('iscrowd', 0):
                continue
            k = a['keypoints']
            kept = [(k[3 * i], k[3 * i + 1], int(k[3 * i + 2])) for i in idx]
            if not any(v > 0 for _, _, v in kept):
                continue
            x, y, bw, bh = a['bbox']
            vals = [(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
            for kx, ky, v in kept:
                vals += [kx / w, ky / h, v] if v > 0 else [0.0, 0.0, 0]
            lines.append('0 ' + ' '.join(f'{v:.6f}' if isinstance(v, float) else str(v)
                                         for v in vals))
            people += 1
        with open(osp.join(lbl_dir, osp.splitext(img['file_name'])[0] + '.txt'), 'w') as fh:
            fh.write('\n'.join(lines) + ('\n' if lines else ''))
    data_yaml = osp.join(args.out, 'data.yaml')
    if not osp.exists(data_yaml):
        def mirror(n: str) -> str:
            for a, b in (('left_', 'right_'), ('right_', 'left_')):
                if n.startswith(a) and n.replace(a, b, 1) in keep:
                    return n.replace(a, b, 1)
            return n
        with open(data_yaml, 'w') as fh:
            fh.write(f'path: {osp.abspath(args.out)}\ntrain: images/train\nval: images/val\n'
                     f'kpt_shape: [{len(keep)}, 3]\n'
                     f'flip_idx: [{", ".join(str(keep.index(mirror(n))) for n in keep)}]\n'
                     f'names:\n  0: person\n')
    print(f'{args.out}: {len(coco["images"])} images, {people} people, '
          f'{len(keep)} keypoints ({", ".join(keep)}) in {img_dir} / {lbl_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
