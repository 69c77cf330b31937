#!/usr/bin/env python
"""Dispatched ops and time of one training loss call vs batch size and people per image.

ER-Pose-n's loss (what ``head.loss`` does after the branch forwards: padded targets, the
batched assignment and losses of both heads, SAH and MAH) and Ultralytics' ``v8PoseLoss``
(YOLOv8n-pose: TAL assignment and losses, one head) on the same synthetic people at a 640
input; neither includes the head's convolutions. An op is a top-level ``aten::`` call
seen by the PyTorch profiler (what a GPU would launch as at least one kernel, each with its
Python and dispatcher overhead). Time: median of ``--repeat`` calls, forward only, on the
CPU or, with ``--device cuda``, on the GPU (synchronised after each call).

    .venv/bin/python -m benchmarks.loss_ops                  # both models (peers venv if present)
    .venv/bin/python -m benchmarks.loss_ops --out benchmarks/results/loss_ops.md
    python -m benchmarks.loss_ops --device cuda --bench-python PY   # GPU: both in CUDA envs

The Ultralytics part runs in the optional peers venv (``benchmarks/setup_peers_env.sh``),
as a subprocess of this script (``--worker yolo``) that prints JSON.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time

from benchmarks.common.machine import cpu_line

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

BATCHES = (1, 2, 4, 8, 16, 32, 64)
PEOPLE = (0, 1, 3, 10, 25, 50)
SIZE = 640


def people(n: int, seed: int, K: int = 17, size: int = SIZE):
    """n random standing-ish people in a size x size image: keypoints (n, K, 2) px, boxes."""
    import numpy as np
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.2 * size, 0.8 * size, (n, 1, 2))
    height = rng.uniform(0.1 * size, 0.5 * size, (n, 1, 1))
    kpts = centre + rng.normal(0, 1, (n, K, 2)) * height * np.array([0.2, 0.35])
    kpts = kpts.clip(1, size - 1).astype('float32')
    boxes = np.concatenate([kpts.min(1), kpts.max(1)], -1) if n else np.zeros((0, 4), 'float32')
    return kpts, boxes


def count_and_time(fn, repeat: int, device: str = 'cpu'):
    import torch
    from torch.profiler import ProfilerActivity, profile
    if device != 'cpu':
        call = fn

        def fn():
            call()
            torch.cuda.synchronize()
    fn()  # warm-up (caches, lazy init)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    ops = sum(1 for e in prof.events() if e.cpu_parent is None and e.name.startswith('aten::'))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    del torch
    return ops, statistics.median(times) * 1e3


def erpose_cases(cases, repeat, device='cpu'):
    import torch
    import erpose_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    from mmpose.registry import MODELS
    from mmpose.structures import PoseDataSample
    init_default_scope('mmpose')
    torch.manual_seed(0)
    head = MODELS.build(Config.fromfile(osp.join(ROOT, 'configs/erpose/erpose-n_coco-640.py'))
                        .model.head).train().to(device)
    out = []
    for B, n in cases:
        samples = []
        for b in range(B):
            k, bx = people(n, seed=b)
            ds = PoseDataSample(metainfo=dict(img_path=f'{b}.jpg', input_size=(SIZE, SIZE)))
            ds.gt_instance_labels = InstanceData(
                keypoints=torch.from_numpy(k), keypoints_visible=torch.ones(n, 17),
                bboxes=torch.from_numpy(bx), areas=torch.ones(n))
            samples.append(ds)
        feats = [torch.randn(B, c, SIZE // s, SIZE // s, device=device)
                 for c, s in zip(head.in_channels, head.featmap_strides)]
        with torch.no_grad():
            raw = (head.one2one(feats), head.one2many(feats))

        def loss():  # what head.loss does after the branch forwards
            gt = head.batch_targets(samples, device)
            head._branch_loss(raw[0], gt, head.assigner_one2one)
            head._branch_loss(raw[1], gt, head.assigner_one2many)
        ops, ms = count_and_time(loss, repeat, device)
        out.append(dict(model='ER-Pose-n loss', batch=B, people=n, ops=ops, ms=ms))
    return out


def yolo_cases(cases, repeat, device='cpu'):
    import torch
    from ultralytics.nn.tasks import PoseModel
    from ultralytics.utils import DEFAULT_CFG
    torch.manual_seed(0)
    model = PoseModel('yolov8n-pose.yaml', verbose=False)
    model.args = DEFAULT_CFG
    model.train().to(device)
    crit = model.init_criterion()
    out = []
    for B, n in cases:
        x = torch.randn(B, 3, SIZE, SIZE, device=device)
        with torch.no_grad():
            preds = model(x)
        kk, bb, idx = [], [], []
        for b in range(B):
            k, bx = people(n, seed=b)
            t = torch.from_numpy(k) / SIZE
            kk.append(torch.cat([t, torch.full((n, 17, 1), 2.0)], -1))
            xyxy = torch.from_numpy(bx) / SIZE
            bb.append(torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], -1))
            idx.append(torch.full((n,), float(b)))
        batch = dict(batch_idx=torch.cat(idx), cls=torch.zeros(B * n, 1), bboxes=torch.cat(bb),
                     keypoints=torch.cat(kk))
        batch = {k: v.to(device) for k, v in batch.items()}
        ops, ms = count_and_time(lambda: crit(preds, batch), repeat, device)
        out.append(dict(model='YOLOv8n-pose v8PoseLoss', batch=B, people=n, ops=ops, ms=ms))
    return out


def all_cases(batches=BATCHES, people=PEOPLE):
    """(batch, people) cases: every batch size with 3 people per image, and batch 8 with
    every number of people."""
    return [(b, 3) for b in batches] + [(8, n) for n in people if n != 3]


def markdown(rows, cpu: str, device: str = 'cpu', batches=BATCHES, people=PEOPLE) -> str:
    models = sorted({r['model'] for r in rows})
    key = {(r['model'], r['batch'], r['people']): r for r in rows}
    try:
        commit = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = '?'
    lines = ['# Training loss: dispatched ops and time vs batch size and people', '',
             f'_Generated by `benchmarks/loss_ops.py` on {time.strftime("%Y-%m-%d")} at '
             f'{commit or "?"}; do not edit by hand._', '',
             f'CPU: {cpu}; device: {device}; input {SIZE}x{SIZE}; ops = top-level aten calls of '
             'one loss call (profiler); ms = median wall time of the call (on a GPU: until '
             'synchronised). ER-Pose-n: padded targets, '
             'assignment and losses of both heads (SAH one-to-one matching, MAH top-10); '
             "YOLOv8n-pose: Ultralytics' v8PoseLoss (TAL). Neither includes the head's "
             'convolutions.', '']
    for title, cases in (('batch size (3 people per image)', [(b, 3) for b in batches]),
                         ('people per image (batch 8)', [(8, n) for n in people])):
        lines += [f'### vs {title}', '',
                  '| batch | people | ' + ' | '.join(f'{m} ops | {m} ms' for m in models) + ' |',
                  '|---|---|' + '---|---|' * len(models)]
        for B, n in cases:
            cells = []
            for m in models:
                r = key.get((m, B, n))
                cells += [str(r['ops']), f"{r['ms']:.1f}"] if r else ['-', '-']
            lines.append(f'| {B} | {n} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--worker', choices=['erpose', 'yolo'])
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--batches', default=','.join(map(str, BATCHES)),
                   help='batch sizes (3 people per image)')
    p.add_argument('--people', default=','.join(map(str, PEOPLE)),
                   help='people per image (batch 8)')
    p.add_argument('--out', default=None, help='write the markdown table here')
    p.add_argument('--bench-python', default=os.environ.get('BENCH_PYTHON') or
                   osp.join(ROOT, '.bench_venv', 'bin', 'python'))
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    batches = tuple(int(b) for b in args.batches.split(','))
    people = tuple(int(n) for n in args.people.split(','))
    cases = all_cases(batches, people)
    if args.worker:
        fn = erpose_cases if args.worker == 'erpose' else yolo_cases
        print(json.dumps(fn(cases, args.repeat, args.device)))
        return
    if args.device != 'cpu' and not torch.cuda.is_available():
        raise SystemExit(f'error: --device {args.device}: torch {torch.__version__} sees no GPU')
    rows = erpose_cases(cases, args.repeat, args.device)
    if osp.isfile(args.bench_python):
        env = dict(os.environ, YOLO_OFFLINE='1',
                   YOLO_CONFIG_DIR=osp.join(osp.dirname(osp.dirname(args.bench_python)), 'yolo_config'))
        res = subprocess.run([args.bench_python, '-m', 'benchmarks.loss_ops', '--worker', 'yolo',
                              '--repeat', str(args.repeat), '--threads', str(args.threads),
                              '--device', args.device, '--batches', args.batches,
                              '--people', args.people],
                             capture_output=True, text=True, env=env, cwd=ROOT)
        if res.returncode:
            print(res.stderr[-3000:], file=sys.stderr)
            raise SystemExit('the Ultralytics worker failed (above)')
        rows += json.loads(res.stdout.strip().splitlines()[-1])
    else:
        print(f'no peers python at {args.bench_python}: Ultralytics rows skipped', file=sys.stderr)
    md = markdown(rows, f'{cpu_line()}, Python {platform.python_version()}', args.device,
                  batches, people)
    print(md)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(md + '\n')


if __name__ == '__main__':
    main()
