#!/usr/bin/env python
"""Generate a synthetic multi-person COCO person-keypoints dataset.

Example::

    python tools/dataset_converters/make_synthetic_coco.py data/synthetic_coco \\
        --num-train 200 --num-val 50 --seed 0 --min-size 320 --max-size 640 \\
        --difficulty easy

writes ``OUT/{train,val}/*.jpg`` and ``OUT/annotations/person_keypoints_{train,val}.json``
(see ``erpose_mm/datasets/synthetic/__init__.py`` for the figure model and label
conventions).

Needs only numpy, opencv and tqdm (not torch / mmpose): run as a script it sets
``ERPOSE_MM_RUNTIME_ONLY=1`` before importing :mod:`erpose_mm.datasets.synthetic`, so
``import erpose_mm`` registers nothing and neither torch nor MMPose is loaded.
"""
import argparse
import os
import time


def load_generator():
    """The :mod:`erpose_mm.datasets.synthetic` package (numpy, OpenCV and tqdm only)."""
    from erpose_mm.datasets import synthetic
    return synthetic


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Generate a synthetic multi-person COCO person-keypoints dataset.')
    p.add_argument('out_dir', help='output directory')
    p.add_argument('--num-train', type=int, default=200, help='number of train images')
    p.add_argument('--num-val', type=int, default=50, help='number of val images')
    p.add_argument('--seed', type=int, default=0, help='random seed (deterministic)')
    p.add_argument('--min-size', type=int, default=320, help='min image side (px)')
    p.add_argument('--max-size', type=int, default=640, help='max image side (px)')
    p.add_argument('--difficulty', default='medium', choices=['easy', 'medium', 'hard'],
                   help='preset: easy = 1-3 mostly un-occluded medium/large people, '
                   'hard = crowded with heavy occlusion')
    p.add_argument('--max-people', type=int, default=None,
                   help='max people per image (overrides the preset)')
    p.add_argument('--min-people', type=int, default=None,
                   help='min people per non-empty image (overrides the preset)')
    p.add_argument('--occlusion', type=float, default=None,
                   help='overlap/occlusion level in [0, 1] (overrides the preset)')
    p.add_argument('--min-scale', type=float, default=None,
                   help='min person height as a fraction of the shorter image side')
    p.add_argument('--max-scale', type=float, default=None,
                   help='max person height as a fraction of the shorter image side')
    p.add_argument('--crowd-prob', type=float, default=None,
                   help='probability of a crowd (iscrowd=1) region per image')
    p.add_argument('--trunc-prob', type=float, default=None,
                   help='probability that a person is placed across the image border')
    p.add_argument('--empty-frac', type=float, default=0.05,
                   help='fraction of images without people')
    p.add_argument('--jpeg-quality', type=int, default=None,
                   help='fixed JPEG quality (default: random 80-95 per image)')
    p.add_argument('--workers', type=int, default=0,
                   help='worker processes (0 = in-process); output is identical')
    p.add_argument('--no-progress', action='store_true', help='disable the progress bar')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    syn = load_generator()
    scale_range = None
    if args.min_scale is not None or args.max_scale is not None:
        lo, hi = syn.DIFFICULTY_PRESETS[args.difficulty]['scale_range']
        scale_range = (args.min_scale if args.min_scale is not None else lo,
                       args.max_scale if args.max_scale is not None else hi)
    t0 = time.time()
    res = syn.generate_synthetic_coco(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed,
        min_size=args.min_size,
        max_size=args.max_size,
        difficulty=args.difficulty,
        max_people=args.max_people,
        crowd_prob=args.crowd_prob,
        progress=not args.no_progress,
        min_people=args.min_people,
        occlusion=args.occlusion,
        scale_range=scale_range,
        trunc_prob=args.trunc_prob,
        empty_frac=args.empty_frac,
        jpeg_quality=args.jpeg_quality,
        workers=args.workers)
    dt = time.time() - t0
    n = res['train']['num_images'] + res['val']['num_images']
    for split in ('train', 'val'):
        r = res[split]
        print(f"{split}: {r['num_images']} images, {r['num_persons']} persons, "
              f"{r['num_crowd']} crowd regions, {r['num_empty_images']} images without "
              f"annotations -> {r['ann_file']}")
    print(f'done in {dt:.1f}s ({n / max(dt, 1e-9) * 60:.0f} images/min)')
    return res


if __name__ == '__main__':
    os.environ.setdefault('ERPOSE_MM_RUNTIME_ONLY', '1')
    main()
