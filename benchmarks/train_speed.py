#!/usr/bin/env python
"""CPU training speed of ER-Pose versus YOLOv8n-pose and YOLO26n-pose.

Seconds per training iteration -- forward + assignment + loss + backward + optimizer step
-- at batch 4, 640x640, 2 threads, and peak memory (RSS), for ER-Pose-n / -s (built from
``configs/erpose/erpose-{n,s}_coco-640.py`` through MMPose's registry, stepped exactly as
``BaseModel.train_step`` does with the config's optimizer wrapper: AdamW + grad clipping)
and for Ultralytics YOLOv8n-pose / YOLO26n-pose (``model.loss(batch)`` as the Ultralytics
trainer calls it, then backward, clip_grad_norm_(10), AdamW step). All models get the same
synthetic batch: 4 random images with a few people each (same boxes / keypoints, in each
library's own label format). EMA updates and data loading are left out for every model.

Each model runs in its own worker process (so its peak RSS is its own): ER-Pose in this
venv, the Ultralytics models in the peers venv (``benchmarks/setup_peers_env.sh``). The
main process interleaves the workers in rounds, so a change of machine load hits every
model alike, and reports medians.

It also times ``KeypointDrivenAssigner.assign`` and the full ER-Pose head loss for 1..50
people per image, to show that they grow at most linearly with the number of people.

    .venv/bin/python -m benchmarks.train_speed            # full (~10-15 min on 2 quiet cores)
    .venv/bin/python -m benchmarks.train_speed --quick    # smoke run
    .venv/bin/python -m benchmarks.train_speed --profile  # + torch.profiler breakdown of ER-Pose-n

Outputs: a markdown table on stdout and in ``benchmarks/results/train_speed_cpu.md``, raw numbers in
``benchmarks/results/train_speed_cpu.json``, plot ``benchmarks/results/assigner_vs_people.png``
(``--suffix`` is appended to each name).

This file is the command line and the interleaving loop; the pieces are in
``benchmarks/speed/``: ``train_step_common.py`` (synthetic people / images, stage timer,
RSS), ``train_step_erpose.py`` / ``train_step_yolo.py`` (the two workers),
``train_speed_report.py`` (rows, markdown, plot).
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import time

from benchmarks.common.machine import cpu_info, loadavg, log
from benchmarks.common.peers import DEFAULT_PEERS_PYTHON, peers_versions
from benchmarks.common.rpc import WorkerProxy, serve
from benchmarks.common.stats import med
from benchmarks.speed.train_speed_report import markdown, plot_sweep, summarize
from benchmarks.speed.train_step_common import INPUT

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PEOPLE_SWEEP = (1, 2, 5, 10, 20, 30, 40, 50)


def worker_main(kind: str) -> None:
    """Worker side (``--worker erpose|yolo``): serve the worker's public methods."""
    if kind == 'erpose':
        from benchmarks.speed.train_step_erpose import ERPoseWorker
        w = ERPoseWorker()
    else:
        from benchmarks.speed.train_step_yolo import YOLOWorker
        w = YOLOWorker()
    serve({name: getattr(w, name) for name in dir(w) if not name.startswith('_')})


def parse_args(argv=None):
    """Command line; ``--quick`` sets few iterations."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='few iterations: a smoke run')
    p.add_argument('--iters', type=int, default=None, help='timed iterations per model (20)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up iterations (2)')
    p.add_argument('--rounds', type=int, default=None, help='interleaving rounds (4)')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu or cuda (stage times synchronised)')
    p.add_argument('--amp', action='store_true',
                   help='float16 mixed precision (CUDA): AmpOptimWrapper / autocast + GradScaler')
    p.add_argument('--people', default='3,5,6,8', help='people per image (one per image)')
    p.add_argument('--models', default='erpose-n,erpose-s,yolov8n-pose,yolo26n-pose')
    p.add_argument('--no-sweep', action='store_true', help='skip the assigner sweep')
    p.add_argument('--profile', action='store_true', help='torch.profiler breakdown of ER-Pose-n')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--bench-python', default=DEFAULT_PEERS_PYTHON)
    p.add_argument('--out-dir', default=osp.join(ROOT, 'benchmarks', 'results'))
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'bench_train'))
    p.add_argument('--suffix', default='',
                   help='appended to the output file names, e.g. _1thread')
    p.add_argument('--no-write', action='store_true')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.iters = a.iters or (2 if a.quick else 20)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    a.rounds = a.rounds or (1 if a.quick else 4)
    a.sweep_iters = 3 if a.quick else 10
    return a


def main(argv=None):
    """Start one worker per model, time them in interleaved rounds, sweep, report."""
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    if args.device != 'cpu':
        import torch
        if not torch.cuda.is_available():
            raise SystemExit(f'error: --device {args.device}: torch {torch.__version__} '
                             'sees no GPU')
        env_gpu = torch.cuda.get_device_name(0)
    if args.amp and args.device == 'cpu':
        raise SystemExit('error: --amp is float16 mixed precision on a GPU (--device cuda)')
    report = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.makedirs(args.work_dir, exist_ok=True)
    people = [int(x) for x in args.people.split(',')]
    people = (people * args.batch)[:args.batch]
    cpu = cpu_info()['model']
    env = dict(date=time.strftime('%Y-%m-%d %H:%M'), ncpu=os.cpu_count(), people=people,
               load_before=f'{loadavg():.2f}', iters=args.iters,
               cpu=cpu if cpu != '?' else platform.machine(), device=args.device,
               gpu=env_gpu if args.device != 'cpu' else None)
    proxies, infos = {}, {}
    for name in args.models.split(','):
        if name.startswith('erpose'):
            py, kind = sys.executable, 'erpose'
        else:
            py, kind = args.bench_python, 'yolo'
            if not osp.exists(py):
                log(f'[train_speed] peers venv missing ({py}): run benchmarks/setup_peers_env.sh;'
                    f' skipping {name}')
                continue
        log(f'[train_speed] setting up {name} ...')
        proxies[name] = WorkerProxy(py, 'benchmarks.train_speed', kind,
                                    osp.join(args.work_dir, f'worker_{name}.log'))
        infos[name] = proxies[name].call('setup', model=name, batch=args.batch, people=people,
                                         threads=args.threads, seed=args.seed,
                                         device=args.device, amp=args.amp)
    for name, px in proxies.items():
        px.call('run', n=args.warmup)
    results = {n: [] for n in proxies}
    per_round = max(1, args.iters // args.rounds)
    for r in range(args.rounds):
        names = list(proxies) if r % 2 == 0 else list(proxies)[::-1]
        for name in names:
            results[name] += proxies[name].call('run', n=per_round)
        log(f'[train_speed] round {r + 1}/{args.rounds}, load {loadavg():.2f}: ' + ', '.join(
            f'{n} {med([x["total"] for x in results[n]]):.2f}s' for n in results))
    stats = {n: px.call('stats') for n, px in proxies.items()}
    rows = summarize(results, infos, stats)

    sweep = prof = None
    if 'erpose-n' in proxies and not args.no_sweep and args.device == 'cpu':
        log('[train_speed] assigner sweep ...')
        sweep = proxies['erpose-n'].call('assign_sweep', counts=list(PEOPLE_SWEEP),
                                         iters=args.sweep_iters, seed=args.seed)
        sweep['cells'] = (INPUT // 16) ** 2 + (INPUT // 32) ** 2
    if 'erpose-n' in proxies and args.profile and args.device == 'cpu':
        log('[train_speed] profiling ER-Pose-n ...')
        prof = proxies['erpose-n'].call('profile', iters=2 if args.quick else 5)
    versions = {}
    import importlib.metadata as md
    for pkg in ('torch', 'mmpose', 'mmengine'):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    if any(not n.startswith('erpose') for n in proxies):
        peers = peers_versions(args.bench_python)
        if peers:
            versions['peers torch'] = peers['torch (peers venv)']
            versions['ultralytics'] = peers['ultralytics']
    for px in proxies.values():
        px.close()
    env['load_after'] = f'{loadavg():.2f}'
    env['versions'] = versions
    text = markdown(rows, sweep, prof, env, args)
    report.write(text)
    report.flush()
    if not args.no_write:
        os.makedirs(args.out_dir, exist_ok=True)
        stem = f'train_speed_{"cpu" if args.device == "cpu" else "gpu"}{args.suffix}'
        with open(osp.join(args.out_dir, f'{stem}.md'), 'w') as f:
            f.write(text)
        with open(osp.join(args.out_dir, f'{stem}.json'), 'w') as f:
            json.dump(dict(env=env, rows=rows, sweep=sweep, profile=prof, infos=infos,
                           args=vars(args)), f, indent=1, default=str)
        if sweep:
            plot_sweep(sweep, osp.join(args.out_dir, f'assigner_vs_people{args.suffix}.png'))


if __name__ == '__main__':
    main()
