#!/usr/bin/env python
"""Memorisation check: can each MMPose-side row of the learning benchmark fit a few of its
training images (scored on those same images)? Tells a peer that learns slowly at the
benchmark's budget from one whose setup is broken (stays at AP ~0).

    .venv/bin/python -m benchmarks.learning_overfit              # ER-Pose-n, YOLOX-Pose, RTMO
    .venv/bin/python -m benchmarks.learning_overfit --rows rtmo-t --iters 800

Prints AP / AP50 (x100) at half and all of ``--iters``; logic in
``benchmarks/learning_benchmark/overfit.py``.
"""
import argparse
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    from benchmarks.learning_benchmark.overfit import DEFAULT_ROWS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', default=','.join(DEFAULT_ROWS), help='comma-separated rows')
    p.add_argument('--images', type=int, default=8, help='training images (= val images)')
    p.add_argument('--split', default='mixed', choices=['mixed', 'crowded'])
    p.add_argument('--iters', type=int, default=400, help='training iterations')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--warmup', type=int, default=40, help='warm-up iterations')
    p.add_argument('--peer-lr-factor', type=float, default=0.5,
                   help="the MMPose peers' lr = their config's lr x this")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'learning_overfit'))
    return p.parse_args()


if __name__ == '__main__':
    from benchmarks.learning_benchmark.overfit import main
    main(parse_args(), ROOT)
