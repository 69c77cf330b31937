#!/usr/bin/env python
"""CPU cost of the optional parallel OKS dedupe: ER-Pose-n at 640x640, batch 1, ONNX Runtime
CPU with 1 intra-op thread, exported with and without the dedupe in the graph, timed side
by side in one run (interleaved rounds, so machine load hits both alike). Also times the
runner's numpy dedupe (``erpose_mm.runtime.dedupe_rows``) on the 100 exported rows.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.dedupe_latency [--runs 100]

Random weights (``make_random_checkpoint``): the dedupe always compares all k = 100 rows,
so its cost does not depend on the weights. Prints a markdown table with the CPU and the
1-minute load average before and after.
"""
import argparse
import datetime
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np

from benchmarks.common.machine import cpu_line, loadavg
from benchmarks.speed.latency_core import make_ort_session

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

CFG = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', type=int, default=100, help='timed runs per model (>= 50)')
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--thr', type=float, default=0.8, help='dedupe OKS threshold')
    args = p.parse_args(argv)
    from erpose_mm.deploy.export import export_onnx
    from erpose_mm.testing import make_random_checkpoint
    from erpose_mm.runtime import dedupe_rows
    work = tempfile.mkdtemp(prefix='erpose_dedupe_lat_')
    ckpt = make_random_checkpoint(CFG, osp.join(work, 'n.pth'), seed=0, calib_sizes=(640, ))
    paths = {
        'top-k (default)': export_onnx(CFG, ckpt, osp.join(work, 'plain.onnx'),
                                       input_size=(640, 640)),
        f'top-k + dedupe {args.thr}': export_onnx(CFG, ckpt, osp.join(work, 'dedupe.onnx'),
                                                  input_size=(640, 640), dedupe_thr=args.thr),
    }
    sessions = {k: make_ort_session(v, threads=1) for k, v in paths.items()}
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    times = {k: [] for k in sessions}
    outs = {}
    load0 = loadavg()
    for _ in range(args.warmup):
        for k, s in sessions.items():
            outs[k] = s.run(None, {'input': x})
    for _ in range(args.runs):                       # interleaved: one run of each per round
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, {'input': x})
            times[k].append(time.perf_counter() - t0)
    dets, kpts = outs['top-k (default)']
    sig = np.full(17, 0.05, np.float32)
    npt = []
    for _ in range(args.warmup + args.runs):
        t0 = time.perf_counter()
        dedupe_rows(dets[0], kpts[0], sig, args.thr)
        npt.append(time.perf_counter() - t0)
    load1 = loadavg()
    base = float(np.median(times['top-k (default)']))
    print(f'date {datetime.date.today().isoformat()}; {cpu_line()}; ONNX Runtime 1 thread, '
          f'640x640, batch 1, ER-Pose-n (random weights), median of {args.runs} runs; '
          f'load average {load0:.2f} -> {load1:.2f}')
    print('\n| graph | model ms (median) | vs default |\n|---|---|---|')
    for k, v in times.items():
        m = float(np.median(v))
        delta = f'{1e3 * (m - base):+.2f} ms ({100 * (m / base - 1):+.1f} %)'
        print(f'| {k} | {1e3 * m:.2f} | {delta} |')
    print(f'| numpy dedupe_rows on 100 rows (runner, --dedupe-thr) | '
          f'{1e3 * float(np.median(npt[args.warmup:])):.3f} | (after the session) |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
