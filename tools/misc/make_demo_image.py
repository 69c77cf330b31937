#!/usr/bin/env python
"""Write a synthetic multi-person demo image (people drawn by the synthetic generator).

Example::

    python tools/misc/make_demo_image.py demo/people.jpg
    python tools/misc/make_demo_image.py demo/portrait.jpg --width 480 --height 640 --seed 1

The image is made here, from the repository alone (no downloaded sample needed); the same
seed and size give the same image. ``--ann-out`` also writes the drawn people's
keypoints as a JSON list of COCO annotations. Existing files are never replaced unless
``--overwrite`` is given. Needs only numpy and OpenCV (not torch / mmpose): run as a script
it sets ``ERPOSE_MM_RUNTIME_ONLY=1`` before importing :mod:`erpose_mm.datasets.synthetic`.
"""
import argparse
import json
import os
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Write a synthetic multi-person demo image.')
    p.add_argument('out', help='output image (.jpg / .png)')
    p.add_argument('--width', type=int, default=640, help='image width (px)')
    p.add_argument('--height', type=int, default=480, help='image height (px)')
    p.add_argument('--seed', type=int, default=0, help='random seed (deterministic)')
    p.add_argument('--num-people', type=int, default=3, help='people drawn')
    p.add_argument('--ann-out', default=None,
                   help='also write the people as COCO annotations (JSON list) here')
    p.add_argument('--overwrite', action='store_true', help='replace existing files')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in (args.out, args.ann_out):
        if path and osp.exists(path) and not args.overwrite:
            print(f'error: {path}: already exists (use --overwrite to replace it)',
                  file=sys.stderr)
            return 2
    if min(args.width, args.height) < 16:
        print(f'error: --width/--height must be >= 16, got {args.width}x{args.height}',
              file=sys.stderr)
        return 2
    from erpose_mm.datasets.synthetic import write_demo_image
    anns = write_demo_image(
        args.out, width=args.width, height=args.height, seed=args.seed,
        num_people=args.num_people, overwrite=args.overwrite)
    if args.ann_out:
        with open(args.ann_out, 'w') as f:
            json.dump(anns, f)
    print(f'{args.out}: {args.width}x{args.height}, {len(anns)} labelled people')
    return 0


if __name__ == '__main__':
    os.environ.setdefault('ERPOSE_MM_RUNTIME_ONLY', '1')
    sys.exit(main())
