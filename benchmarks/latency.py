#!/usr/bin/env python
"""CPU latency of ER-Pose versus YOLOv8n-pose, YOLO26n-pose and RTMO-s.

One command, one table. Everything is measured side by side in ONE run on the same
machine: 640x640 input, batch 1, ONNX Runtime CPU with 1 and 2 intra-op threads, plus
PyTorch eager with the same thread counts. For each model and runtime we time

* ``pre``   : preprocessing of a real image (letterbox to 640x640, layout, scaling),
* ``model`` : the network alone (ORT ``session.run`` / eager forward). For graphs that
  contain their own decode (ER-Pose top-k, YOLO26 one-to-one top-k, RTMO's NMS, the
  YOLOv8 "NMS in graph" variant) that decode is inside ``model``;
* ``post``  : what is left to get final poses in original-image pixels (YOLOv8: NMS),
* ``e2e``   : the sum, timed as one interval per iteration.

Every value is a median over many iterations after warm-up; the cases are interleaved in
rounds so that a change of machine load hits all models alike (``load`` columns show the
1-minute load average).

Peers (Ultralytics) run in a separate venv (``benchmarks/setup_peers_env.sh`` ->
``.bench_venv``) as a worker subprocess of this script (``--worker peers``) speaking JSON
lines; the main process (project venv) runs ER-Pose (exported with
``erpose_mm.deploy.export.export_onnx``, pre/post with ``erpose_mm.runtime``)
and RTMO-s (MMPose config, exported with MMDeploy; its NMS is inside the graph).

It also sweeps the decode / NMS cost against the number of confident candidates
(1..300): ER-Pose top-k decode versus YOLOv8 NMS (and YOLO26's top-k filter).

Outputs: a markdown table on stdout and in ``benchmarks/results/latency_cpu.md``, raw numbers in
``benchmarks/results/latency_cpu.json``, plots ``benchmarks/results/latency_cpu.png`` and
``benchmarks/results/decode_vs_people.png`` (``--suffix`` is appended to each name).

    .venv/bin/python -m benchmarks.latency            # full run (~15-25 min on 2 quiet cores)
    .venv/bin/python -m benchmarks.latency --quick    # smoke run (few iterations)
    .venv/bin/python -m benchmarks.latency --profile  # + ORT op profile of ER-Pose-n / YOLOv8n

Runtimes (``--runtimes``, default all): ``ort`` (fp32 ONNX Runtime), ``ort-int8`` (the same
ONNX file quantized to INT8 QDQ by ``erpose_mm/deploy/quantize.py``, calibrated on the
images of ``--calib``; for YOLOv8 the DFL convolution stays float as ER-Pose's decode
does), ``ov`` / ``ov-int8`` (OpenVINO IRs of those two files, CPU plugin, same thread
counts; skipped where openvino is not installed, e.g. in a peers venv without it).

All models have random weights (no checkpoints can be downloaded here): model time does
not depend on the weights, but the number of candidates an NMS sees does -- see the sweep.

This file is the command line and the measurement loop; the pieces are in
``benchmarks/speed/``: ``latency_core.py`` (ORT session options, timed cases, ORT profile,
GFLOPs, the OpenVINO session and the INT8 / OpenVINO files of each ONNX model),
``latency_peers.py`` (the Ultralytics worker), ``latency_mm.py`` (ER-Pose / RTMO
export and cases, ER-Pose decode sweep), ``latency_report.py`` (rows, markdown, plots).
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import time
from typing import List

from benchmarks.common.machine import cpu_info, loadavg, log
from benchmarks.common.peers import DEFAULT_PEERS_PYTHON
from benchmarks.common.rpc import WorkerProxy
from benchmarks.speed.latency_core import (ONNX_RUNTIMES, SWEEP_COUNTS, Case, RemoteCase,
                                           onnx_gflops, ort_profile, quantized_variants)
from benchmarks.speed.latency_mm import (build_mm_model, erpose_cfg, erpose_decode_sweep,
                                         erpose_ort_case, export_erpose, export_rtmo,
                                         mm_eager_case, mm_env, rtmo_cfg, rtmo_ort_case)
from benchmarks.speed.latency_report import markdown, plots, summarize

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_IMAGE = osp.join(osp.dirname(ROOT), 'shared', 'data', 'demo', 'demo_mp4_frame000.jpg')


def parse_args(argv=None):
    """Command line; ``--quick`` sets few iterations."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='few iterations: a smoke run')
    p.add_argument('--iters', type=int, default=None, help='timed iterations per case (40)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up iterations per case (5)')
    p.add_argument('--rounds', type=int, default=None,
                   help='interleaving rounds (default: iters / 4, i.e. blocks of 4 iterations)')
    p.add_argument('--threads', default='1,2', help='thread counts, comma separated')
    p.add_argument('--models', default='erpose-n,erpose-s,yolov8n-pose,yolo26n-pose,rtmo-s')
    p.add_argument('--no-eager', action='store_true', help='skip PyTorch eager cases')
    p.add_argument('--runtimes', default=','.join(ONNX_RUNTIMES),
                   help='ONNX runtimes, comma separated: ort (fp32), ort-int8 (ONNX Runtime '
                   'static INT8, erpose_mm/deploy/quantize.py), ov / ov-int8 (OpenVINO IRs '
                   'of the fp32 / INT8 files; rows skipped without openvino)')
    p.add_argument('--calib', default=None,
                   help='INT8 calibration image folder (default: the folder of --image)')
    p.add_argument('--num-calib', type=int, default=64)
    p.add_argument('--no-sweep', action='store_true', help='skip the decode/NMS sweep')
    p.add_argument('--profile', action='store_true',
                   help='ORT per-op / per-part profile of every model (1 thread)')
    p.add_argument('--image', default=DEFAULT_IMAGE)
    p.add_argument('--score-thr', type=float, default=0.25,
                   help='ER-Pose export/runner threshold (Ultralytics predict default: 0.25)')
    p.add_argument('--bench-python', default=DEFAULT_PEERS_PYTHON,
                   help='python of the peers venv (benchmarks/setup_peers_env.sh)')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'bench_latency'))
    p.add_argument('--out-dir', default=osp.join(ROOT, 'benchmarks', 'results'))
    p.add_argument('--suffix', default='',
                   help='appended to the output file names, e.g. _1thread')
    p.add_argument('--no-write', action='store_true', help='print only, write no report files')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.iters = a.iters or (4 if q else 40)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 5)
    a.rounds = a.rounds or max(1, a.iters // 4)
    a.sweep_iters = 5 if q else 30
    a.runtimes = [r for r in a.runtimes.split(',') if r]
    bad = [r for r in a.runtimes if r not in ONNX_RUNTIMES]
    if bad:
        p.error(f'--runtimes {",".join(bad)}: expected some of {",".join(ONNX_RUNTIMES)}')
    a.calib = a.calib or osp.dirname(osp.abspath(a.image))
    return a


def main(argv=None):
    """Set up every case, time them in interleaved rounds, sweep, report."""
    args = parse_args(argv)
    if args.worker:
        from benchmarks.speed.latency_peers import worker_main
        return worker_main(args)
    # the libraries log to stdout: keep stdout for the table only
    report = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import cv2
    os.makedirs(args.work_dir, exist_ok=True)
    threads = [int(t) for t in args.threads.split(',')]
    models = args.models.split(',')
    img0 = cv2.imread(args.image)
    if img0 is None:
        raise SystemExit(f'cannot read {args.image}')
    cpu = cpu_info()['model']
    env = dict(date=time.strftime('%Y-%m-%d %H:%M'), cpu=cpu if cpu != '?' else platform.machine(),
               ncpu=os.cpu_count(), load_before=f'{loadavg():.2f}', image_shape=list(img0.shape),
               iters=args.iters)
    cases: List[Case] = []
    t_setup = time.perf_counter()

    # --- peers first (sequential: two processes exporting at once only fight for the cores)
    proxy = None
    onnx_files = {}
    peer_models = [m for m in models if m in ('yolov8n-pose', 'yolo26n-pose')]
    versions = {}
    if peer_models:
        if not osp.exists(args.bench_python):
            log(f'[latency] peers venv missing ({args.bench_python}): run '
                'benchmarks/setup_peers_env.sh; skipping YOLO models')
        else:
            log('[latency] starting peers worker ...')
            proxy = WorkerProxy(args.bench_python, 'benchmarks.latency', 'peers',
                                osp.join(args.work_dir, 'peers_worker.log'))
            descr = proxy.call('setup', threads=threads, image=args.image,
                               work_dir=osp.join(args.work_dir, 'peers'), eager=not args.no_eager,
                               models=peer_models, conf=args.score_thr,
                               runtimes=args.runtimes, calib=args.calib,
                               num_calib=args.num_calib)
            cases += [RemoteCase(proxy, d) for d in descr]
            for m in peer_models:
                onnx_files[m] = osp.join(args.work_dir, 'peers', f'{m}.onnx')
            versions.update({f'peers {k}': v for k, v in proxy.call('info').items()})

    # --- ER-Pose / RTMO in this process
    mm_env()
    import mmdeploy
    import mmpose
    import onnxruntime
    import torch
    versions.update({'torch': torch.__version__, 'onnxruntime': onnxruntime.__version__,
                     'mmpose': mmpose.__version__, 'mmdeploy': mmdeploy.__version__})
    for m in models:
        if m.startswith('erpose-'):
            scale = m.split('-')[1]
            log(f'[latency] exporting {m} ...')
            path, ckpt = export_erpose(scale, args.work_dir, args.score_thr)
            onnx_files[m] = path
            cfg = erpose_cfg(scale)
            model, n_params = build_mm_model(cfg, deploy=True, checkpoint=ckpt)
            n_deploy = sum(p.numel() for p in model.parameters())
            info = dict(params=n_params, params_deploy=n_deploy, score_thr=args.score_thr,
                        in_graph='top-k decode (SAH)', post='runner: threshold + rescale')
            variants = quantized_variants(path, args.runtimes, args.calib, args.num_calib)
            for t in threads:
                if 'ort' in args.runtimes:
                    cases.append(erpose_ort_case(m, path, t, img0, args.score_thr, info))
                for rt, f in variants.items():
                    cases.append(erpose_ort_case(m, path, t, img0, args.score_thr, info,
                                                 runtime=rt, model_file=f))
                if not args.no_eager:
                    cases.append(mm_eager_case(m, model, cfg, t, img0, 'one2one', info))
        elif m == 'rtmo-s':
            log('[latency] exporting rtmo-s (MMDeploy) ...')
            path, ckpt = export_rtmo(args.work_dir, args.image)
            onnx_files[m] = path
            cfg = rtmo_cfg()
            model, n_params = build_mm_model(cfg, deploy=True, checkpoint=ckpt)
            n_deploy = sum(p.numel() for p in model.parameters())
            score_thr = cfg.model.test_cfg.get('score_thr', 0.1)
            info = dict(params=n_params, params_deploy=n_deploy, score_thr=score_thr,
                        in_graph='NMS (MMDeploy rewriter)',
                        post='threshold + rescale')
            for t in threads:
                cases.append(rtmo_ort_case(path, t, img0, score_thr, info))
                if not args.no_eager:
                    cases.append(mm_eager_case(m, model, cfg, t, img0, 'forward', info))
    log(f'[latency] setup {time.perf_counter() - t_setup:.0f} s; {len(cases)} cases')
    flops = {}
    for m, f in onnx_files.items():
        try:
            flops[m] = onnx_gflops(f)
        except Exception as e:  # diagnostic only
            log(f'[latency] GFLOPs of {m} not counted: {e!r}')
    for c in cases:
        base = c.model.split('+')[0]
        if base in flops:
            c.info = dict(c.info, gflops=flops[base]['total'])

    # --- timing: warm-up, then interleaved rounds
    for c in cases:
        c.run(args.warmup)
    results = {c.key: [] for c in cases}
    per_round = max(1, args.iters // args.rounds)
    for r in range(args.rounds):  # blocks of `per_round` iterations, cases interleaved
        order = cases if r % 2 == 0 else cases[::-1]
        for c in order:
            results[c.key] += c.run(per_round)
            time.sleep(0.05)  # let spinning worker threads of the previous case go idle
        log(f'[latency] round {r + 1}/{args.rounds} done, load {loadavg():.2f}')
    meta = {c.key: dict(model=c.model, runtime=c.runtime, threads=c.threads, info=c.info)
            for c in cases}
    rows = summarize(results, meta)

    # --- decode / NMS sweep
    sweep = None
    if not args.no_sweep:
        log('[latency] decode / NMS sweep ...')
        series = erpose_decode_sweep(SWEEP_COUNTS, args.sweep_iters, 1, args.score_thr)
        if proxy is not None:
            series.update(proxy.call('sweep', counts=list(SWEEP_COUNTS), iters=args.sweep_iters,
                                     threads=1))
        sweep = dict(counts=list(SWEEP_COUNTS), series=series)

    prof = None
    if args.profile:
        log('[latency] ORT profiling ...')
        prof = {}
        for m in models:
            if m.startswith('erpose-'):
                prof[m] = ort_profile(osp.join(args.work_dir, f'{m}.onnx'), 1, 20,
                                      osp.join(args.work_dir, f'prof_{m}'))
        if 'rtmo-s' in models:
            prof['rtmo-s'] = ort_profile(osp.join(args.work_dir, 'rtmo-s.onnx'), 1, 20,
                                         osp.join(args.work_dir, 'prof_rtmo-s'))
        if proxy is not None:
            for name in peer_models:
                prof[name] = proxy.call('profile', name=name, threads=1, iters=20,
                                        work_dir=osp.join(args.work_dir, 'peers'))
    if proxy is not None:
        proxy.close()

    env['load_after'] = f'{loadavg():.2f}'
    env['versions'] = versions
    md = markdown(rows, sweep, env, args, prof, flops)
    report.write(md)
    report.flush()
    if not args.no_write:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(osp.join(args.out_dir, f'latency_cpu{args.suffix}.md'), 'w') as f:
            f.write(md)
        with open(osp.join(args.out_dir, f'latency_cpu{args.suffix}.json'), 'w') as f:
            json.dump(dict(env=env, rows=rows, sweep=sweep, profile=prof, gflops=flops,
                           args={k: v for k, v in vars(args).items()}), f, indent=1, default=str)
        for f in plots(rows, sweep, args.out_dir, args.suffix):
            log(f'[latency] wrote {f}')


if __name__ == '__main__':
    main()
