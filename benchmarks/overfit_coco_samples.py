#!/usr/bin/env python
"""Overfit check: train ER-Pose-n on the 4 real COCO images of
``../shared/data/coco`` and evaluate on the same images; a model and a loss that can learn
reach COCO keypoint AP >= 0.95.

    .venv/bin/python -m benchmarks.overfit_coco_samples                 # ~15-25 min, 2 cores
    .venv/bin/python -m benchmarks.overfit_coco_samples --target 0.95 --work-dir work_dirs/overfit

It runs ``tools/train.py`` on ``configs/erpose/erpose-n_overfit-coco-samples.py`` (extra
``--cfg-options`` pass through), prints the AP after every validation, and exits with 0 when
the best AP reaches ``--target`` (1 otherwise), so it can gate a release or a CI job that
has the time. The data is read at run time: importing this file needs nothing from
``../shared``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CFG = 'configs/erpose/erpose-n_overfit-coco-samples.py'


def read_val_scalars(work_dir: str) -> list:
    """All validation records (dicts with 'step' and 'coco/AP', ...) of the newest run."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)) and
                  osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        return []
    recs = []
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        for line in f:
            rec = json.loads(line)
            if 'coco/AP' in rec:
                recs.append(rec)
    return recs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--config', default=DEFAULT_CFG)
    p.add_argument('--work-dir', default='work_dirs/overfit_coco_samples')
    p.add_argument('--target', type=float, default=0.95)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--cfg-options', nargs='+', default=[])
    args = p.parse_args()
    os.chdir(ROOT)
    ann = '../shared/data/coco/test_coco.json'
    if not osp.isfile(ann):
        print(f'error: {ann}: not found (the shared COCO samples must sit beside the repo)')
        return 2
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OMP_WAIT_POLICY=os.environ.get('OMP_WAIT_POLICY', 'PASSIVE'))
    cmd = [sys.executable, 'tools/train.py', args.config, '--work-dir', args.work_dir]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    print('$', ' '.join(cmd), flush=True)
    t0 = time.time()
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'train_stdout.log'), 'w') as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    minutes = (time.time() - t0) / 60
    if rc != 0:
        print(f'error: training failed (exit {rc}); see {args.work_dir}/train_stdout.log')
        return 2
    recs = read_val_scalars(args.work_dir)
    if not recs:
        print(f'error: no validation results in {args.work_dir}')
        return 2
    print(f'{"iteration":>9} {"AP":>6} {"AP .5":>6} {"AP .75":>6} {"AR":>6}')
    for r in recs:
        print(f'{r["step"]:>9} {r["coco/AP"]:6.3f} {r["coco/AP .5"]:6.3f} '
              f'{r["coco/AP .75"]:6.3f} {r["coco/AR"]:6.3f}')
    best = max(recs, key=lambda r: r['coco/AP'])
    ok = best['coco/AP'] >= args.target
    print(f'best AP {best["coco/AP"]:.3f} at iteration {best["step"]} '
          f'(target {args.target}): {"PASS" if ok else "FAIL"}; {minutes:.1f} min')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
