#!/usr/bin/env python
"""CPU training speed of ER-Pose versus YOLOv8n-pose and YOLO26n-pose (issue #4).

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

    .venv/bin/python benchmarks/train_speed.py            # full (~10-15 min on 2 quiet cores)
    .venv/bin/python benchmarks/train_speed.py --quick    # smoke run
    .venv/bin/python benchmarks/train_speed.py --profile  # + torch.profiler breakdown of ER-Pose-n

Outputs: a markdown table on stdout and in ``docs/train_speed_cpu.md``, raw numbers in
``docs/train_speed_cpu.json``, plot ``docs/assigner_vs_people.png``.
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common.machine import loadavg, log  # noqa: E402
from benchmarks.common.rpc import WorkerProxy, serve  # noqa: E402
from benchmarks.common.stats import med  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_BENCH_PY = osp.join(ROOT, '.bench_venv', 'bin', 'python')
INPUT = 640
K = 17
TARGET_VS_V8 = 0.8  # ER-Pose-n s/iter <= 0.8 x YOLOv8n-pose
REF_S_PER_ITER = {'yolov8n-pose': 1.02, 'yolo26n-pose': 1.41}  # measured earlier here
PEOPLE_SWEEP = (1, 2, 5, 10, 20, 30, 40, 50)
STAGES_ER = ('data', 'backbone_neck_fwd', 'head_fwd', 'assign', 'loss', 'backward', 'step')
STAGES_YOLO = ('data', 'fwd', 'assign', 'loss', 'backward', 'step')




def rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- synthetic people
def make_people(seed: int, batch: int, people, size: int = INPUT) -> List[dict]:
    """Per image: ``bboxes`` (G, 4) xyxy px, ``keypoints`` (G, K, 2) px, ``visible`` (G, K)
    in {0, 2} (~80 % labelled), ``areas`` (G,). ``people``: an int or one int per image.
    Library-free, so every model sees the same people."""
    rng = np.random.default_rng(seed)
    if isinstance(people, int):
        people = [people] * batch
    out = []
    for g in people:
        w = rng.uniform(40, 220, g)
        h = w * rng.uniform(1.5, 2.6, g)
        h = np.minimum(h, size * 0.9)
        x1 = rng.uniform(0, size - w)
        y1 = rng.uniform(0, size - h)
        boxes = np.stack([x1, y1, x1 + w, y1 + h], 1).astype(np.float32)
        # keypoints: a rough standing skeleton template inside the box, jittered
        tmpl = np.array([[.5, .08], [.45, .06], [.55, .06], [.4, .08], [.6, .08],
                         [.3, .25], [.7, .25], [.22, .42], [.78, .42], [.2, .57], [.8, .57],
                         [.38, .58], [.62, .58], [.37, .78], [.63, .78], [.36, .97],
                         [.64, .97]], np.float32)
        kp = tmpl[None] + rng.normal(0, 0.03, (g, K, 2)).astype(np.float32)
        kp = np.clip(kp, 0, 1) * np.stack([w, h], 1)[:, None] + boxes[:, None, :2]
        vis = np.where(rng.uniform(size=(g, K)) < 0.8, 2.0, 0.0).astype(np.float32)
        vis[:, 0] = 2.0  # at least one labelled keypoint per person
        out.append(dict(bboxes=boxes, keypoints=kp.astype(np.float32), visible=vis,
                        areas=(w * h * 0.53).astype(np.float32)))
    return out


def make_images(seed: int, batch: int, size: int = INPUT) -> np.ndarray:
    """(B, 3, H, W) uint8 BGR noise (content does not change the cost)."""
    return np.random.default_rng(seed + 1).integers(0, 256, (batch, 3, size, size), np.uint8)


# ----------------------------------------------------------------------------- timing helper
class StageTimer:
    """Accumulates wall time of wrapped callables for one iteration."""

    def __init__(self):
        self.acc: Dict[str, float] = {}

    def wrap(self, key: str, fn):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.acc[key] = self.acc.get(key, 0.0) + time.perf_counter() - t0
        timed.__wrapped__ = fn
        return timed

    def pop(self) -> Dict[str, float]:
        acc, self.acc = self.acc, {}
        return acc


# ----------------------------------------------------------------------------- ER-Pose worker
class ERPoseWorker:
    def setup(self, model: str, batch: int, people, threads: int, seed: int) -> dict:
        import torch
        import erpose_mm  # noqa: F401
        from mmengine.config import Config
        from mmengine.logging import MMLogger
        from mmengine.optim import build_optim_wrapper
        from mmpose.registry import MODELS
        from mmpose.utils import register_all_modules
        import logging
        register_all_modules(init_default_scope=True)
        for inst in list(MMLogger._instance_dict.values()):
            inst.setLevel(logging.WARNING)
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        scale = model.split('-')[1]
        self.cfg = Config.fromfile(osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py'))
        self.model = MODELS.build(self.cfg.model)
        self.model.init_weights()
        self.model.train()
        self.optim = build_optim_wrapper(self.model, self.cfg.optim_wrapper)
        self.batch = batch
        self.data = self.make_data(make_people(seed, batch, people), make_images(seed, batch))
        self.timer = StageTimer()
        head = self.model.head
        # stage timers: branch forwards and the assigners (instance attributes shadow the
        # class methods; nn.Module.__call__ calls self.forward)
        for br, key in ((head.one2one, 'head_fwd'), (head.one2many, 'head_fwd')):
            if br is not None:
                br.__dict__['forward'] = self.timer.wrap(key, br.forward)
        for a in (head.assigner_one2one, head.assigner_one2many):
            if a is not None:
                a.assign_batch = self.timer.wrap('assign', a.assign_batch)
        n_params = sum(p.numel() for p in self.model.parameters())
        self.rss_setup = rss_mb()
        return dict(params=n_params, rss_setup_mb=self.rss_setup,
                    optimizer=type(self.optim.optimizer).__name__,
                    clip_grad=self.cfg.optim_wrapper.get('clip_grad'))

    def make_data(self, people: List[dict], imgs: np.ndarray) -> dict:
        import torch
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        samples = []
        for p in people:
            ds = PoseDataSample(metainfo=dict(input_size=(INPUT, INPUT), img_shape=(INPUT, INPUT),
                                              ori_shape=(INPUT, INPUT), flip_indices=list(range(K))))
            labels = InstanceData()
            labels.keypoints = torch.from_numpy(p['keypoints'])
            labels.keypoints_visible = torch.from_numpy((p['visible'] > 0).astype(np.float32))
            labels.bboxes = torch.from_numpy(p['bboxes'])
            labels.areas = torch.from_numpy(p['areas'])
            ds.gt_instance_labels = labels
            inst = InstanceData()
            inst.bboxes = p['bboxes']
            inst.keypoints = p['keypoints']
            inst.keypoints_visible = (p['visible'] > 0).astype(np.float32)
            ds.gt_instances = inst
            samples.append(ds)
        return dict(inputs=[torch.from_numpy(im) for im in imgs], data_samples=samples)

    def step(self) -> dict:
        """One ``BaseModel.train_step`` (data_preprocessor -> loss -> parse -> backward ->
        clip + AdamW step -> zero_grad), with stage timers."""
        m, ow = self.model, self.optim
        c0, t0 = time.process_time(), time.perf_counter()
        with ow.optim_context(m):
            data = m.data_preprocessor(self.data, True)
            t1 = time.perf_counter()
            feats = m.extract_feat(data['inputs'])
            t2 = time.perf_counter()
            losses = m.head.loss(feats, data['data_samples'], train_cfg=m.train_cfg)
            t3 = time.perf_counter()
            loss, _ = m.parse_losses(losses)
        ow.backward(loss)
        t4 = time.perf_counter()
        ow.step()
        ow.zero_grad()
        c5, t5 = time.process_time(), time.perf_counter()
        acc = self.timer.pop()
        head_fwd, assign = acc.get('head_fwd', 0.0), acc.get('assign', 0.0)
        return dict(total=t5 - t0, data=t1 - t0, backbone_neck_fwd=t2 - t1, head_fwd=head_fwd,
                    assign=assign, loss=(t3 - t2) - head_fwd - assign, backward=t4 - t3,
                    step=t5 - t4, loss_value=float(loss), cpu=c5 - c0)

    def run(self, n: int) -> List[dict]:
        out = []
        for _ in range(n):
            r = self.step()
            r['load'] = loadavg()
            out.append(r)
        return out

    def stats(self) -> dict:
        return dict(peak_rss_mb=peak_rss_mb(), rss_setup_mb=self.rss_setup, rss_now_mb=rss_mb())

    # ---- assigner / head-loss scaling
    def assign_sweep(self, counts, iters: int, seed: int) -> dict:
        """Per image: ``KeypointDrivenAssigner.assign`` (MAH top-10 and SAH top-1) on the
        model's own decoded predictions; per batch: the full head loss forward and
        forward + backward, for G people in every image."""
        import torch
        m = self.model
        head = m.head
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # thread CPU time = the whole cost, robust to machine load
        res = dict(counts=list(counts), assign_o2m=[], assign_o2o=[], head_loss_fwd=[],
                   head_loss_fwd_bwd=[])
        a_o2m, a_o2o = head.assigner_one2many, head.assigner_one2one
        data = m.data_preprocessor(self.data, True)
        with torch.no_grad():
            feats = [f.detach() for f in m.extract_feat(data['inputs'])]
            outs = head.dense_outputs(feats, 'one2many')
        for g in [counts[0]] + list(counts):  # the first pass is a warm-up
            warm = len(res['assign_o2m']) == 0 and 'warm' not in res
            if warm:
                res['warm'] = True
            d = self.make_data(make_people(seed + g, self.batch, g), make_images(seed, 1))
            gts = head.batch_targets(d['data_samples'], 'cpu')
            for key, assigner in (('assign_o2m', a_o2m), ('assign_o2o', a_o2o)):
                ts = []
                for i in range(iters + 2):
                    t0 = time.thread_time()
                    head.assign(outs, gts, assigner)  # the whole batch at once
                    if i >= 2:
                        ts.append((time.thread_time() - t0) / self.batch)
                res[key].append(med(ts))
            samples = d['data_samples']
            tf, tfb = [], []
            for i in range(max(3, iters) + 1):
                fe = [f.clone().requires_grad_(True) for f in feats]
                t0 = time.thread_time()
                losses = head.loss(fe, samples)
                t1 = time.thread_time()
                total = sum(v for k, v in losses.items() if k.startswith('loss'))
                total.backward()
                t2 = time.thread_time()
                self.timer.pop()
                if i >= 1:
                    tf.append(t1 - t0)
                    tfb.append(t2 - t0)
            res['head_loss_fwd'].append(med(tf))
            res['head_loss_fwd_bwd'].append(med(tfb))
            if warm:
                for k in ('assign_o2m', 'assign_o2o', 'head_loss_fwd', 'head_loss_fwd_bwd'):
                    res[k].pop()
                continue
            log(f'[assign sweep] G={g}: o2m {1000 * res["assign_o2m"][-1]:.2f} ms/img, '
                f'head loss fwd+bwd {1000 * res["head_loss_fwd_bwd"][-1]:.0f} ms/batch')
        res.pop('warm', None)
        torch.set_num_threads(threads)
        return res

    # ---- profiling
    def profile(self, iters: int) -> dict:
        """torch.profiler over ``iters`` training steps (labelled stages) and a separate
        measurement of the backbone+neck backward alone (so head+loss backward =
        total backward - backbone/neck backward)."""
        import torch
        from torch.profiler import ProfilerActivity, profile, record_function
        m, ow = self.model, self.optim
        self.step()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
            for _ in range(iters):
                with record_function('1_data_preprocessor'):
                    data = m.data_preprocessor(self.data, True)
                with record_function('2_backbone_neck_fwd'):
                    feats = m.extract_feat(data['inputs'])
                with record_function('3_head_loss_fwd'):
                    losses = m.head.loss(feats, data['data_samples'], train_cfg=m.train_cfg)
                    loss, _ = m.parse_losses(losses)
                with record_function('4_backward'):
                    ow.backward(loss)
                with record_function('5_optimizer_step'):
                    ow.step()
                    ow.zero_grad()
        self.timer.pop()
        ka = prof.key_averages()
        stages = {e.key: e.cpu_time_total / 1000 / iters for e in ka if e.key[:2] in
                  ('1_', '2_', '3_', '4_', '5_')}
        top = sorted(ka, key=lambda e: -e.self_cpu_time_total)[:15]
        top_ops = [dict(op=e.key, self_ms=e.self_cpu_time_total / 1000 / iters, calls=e.count // iters)
                   for e in top]
        # backbone + neck backward alone
        bn_bwd, full_bwd = [], []
        for i in range(iters + 1):
            data = m.data_preprocessor(self.data, True)
            feats = m.extract_feat(data['inputs'])
            gs = [torch.randn_like(f) for f in feats]
            t0 = time.perf_counter()
            torch.autograd.backward(list(feats), gs)
            t1 = time.perf_counter()
            ow.zero_grad()
            if i >= 1:
                bn_bwd.append(t1 - t0)
            r = self.step()
            if i >= 1:
                full_bwd.append(r['backward'])
        self.timer.pop()
        return dict(stages_ms=stages, top_ops=top_ops,
                    backbone_neck_bwd_ms=1000 * med(bn_bwd), total_bwd_ms=1000 * med(full_bwd))


# ----------------------------------------------------------------------------- Ultralytics worker
class YOLOWorker:
    def setup(self, model: str, batch: int, people, threads: int, seed: int) -> dict:
        import torch
        os.environ.setdefault('YOLO_OFFLINE', '1')
        from ultralytics.cfg import get_cfg
        from ultralytics.utils import DEFAULT_CFG
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from latency import build_peer
        torch.set_num_threads(threads)  # importing ultralytics set it to 1
        torch.manual_seed(seed)
        work = osp.join(ROOT, 'work_dirs', 'bench_train')
        net = build_peer(model, work).model
        net.args = get_cfg(DEFAULT_CFG)  # loss gains (box, pose, kobj, cls, dfl), as the trainer
        net.train()
        for p in net.parameters():
            p.requires_grad_(True)
        self.net = net
        self.optim = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.937, 0.999),
                                       weight_decay=0.05)
        self.batch = self.make_batch(make_people(seed, batch, people), make_images(seed, batch))
        self.timer = StageTimer()
        crit = net.init_criterion()
        net.criterion = crit
        subs = [crit.one2many, crit.one2one] if hasattr(crit, 'one2one') else [crit]
        for c in subs:
            c.assigner.__dict__['forward'] = self.timer.wrap('assign', c.assigner.forward)
        n_params = sum(p.numel() for p in net.parameters())
        self.rss_setup = rss_mb()
        return dict(params=n_params, rss_setup_mb=self.rss_setup, optimizer='AdamW',
                    clip_grad=dict(max_norm=10.0), criterion=type(crit).__name__)

    @staticmethod
    def make_batch(people: List[dict], imgs: np.ndarray) -> dict:
        """Ultralytics' collated pose batch: normalised xywh boxes and keypoints."""
        import torch
        bi, cls, boxes, kpts = [], [], [], []
        for i, p in enumerate(people):
            b = p['bboxes']
            xywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                             b[:, 3] - b[:, 1]], 1) / INPUT
            kp = np.concatenate([p['keypoints'] / INPUT, p['visible'][..., None]], -1)
            kp[p['visible'] == 0, :2] = 0
            bi.append(np.full(len(b), i, np.float32))
            cls.append(np.zeros((len(b), 1), np.float32))
            boxes.append(xywh.astype(np.float32))
            kpts.append(kp.astype(np.float32))
        img = torch.from_numpy(imgs[:, ::-1].copy())  # BGR -> RGB uint8, as the dataloader
        return dict(img=img, batch_idx=torch.from_numpy(np.concatenate(bi)),
                    cls=torch.from_numpy(np.concatenate(cls)),
                    bboxes=torch.from_numpy(np.concatenate(boxes)),
                    keypoints=torch.from_numpy(np.concatenate(kpts)))

    def step(self) -> dict:
        import torch
        net = self.net
        c0, t0 = time.process_time(), time.perf_counter()
        batch = dict(self.batch)
        batch['img'] = batch['img'].float() / 255  # DetectionTrainer.preprocess_batch
        t1 = time.perf_counter()
        preds = net(batch['img'])
        t2 = time.perf_counter()
        loss, _ = net.loss(batch, preds)
        loss = loss.sum()
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=10.0)
        self.optim.step()
        self.optim.zero_grad()
        c5, t5 = time.process_time(), time.perf_counter()
        assign = self.timer.pop().get('assign', 0.0)
        return dict(total=t5 - t0, data=t1 - t0, fwd=t2 - t1, assign=assign,
                    loss=(t3 - t2) - assign, backward=t4 - t3, step=t5 - t4,
                    loss_value=float(loss), cpu=c5 - c0)

    run = ERPoseWorker.run
    stats = ERPoseWorker.stats


def worker_main(kind: str) -> None:
    w = ERPoseWorker() if kind == 'erpose' else YOLOWorker()
    serve({name: getattr(w, name) for name in dir(w) if not name.startswith('_')})


# ----------------------------------------------------------------------------- reporting
def fmt(x, nd=2):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return '-'
    return f'{x:.{nd}f}'


def summarize(results, infos, stats) -> List[dict]:
    rows = []
    for name, rs in results.items():
        row = dict(model=name, n=len(rs), s_per_iter=med([r['total'] for r in rs]),
                   s_min=min(r['total'] for r in rs), cpu_s=med([r.get('cpu') for r in rs]),
                   load=med([r['load'] for r in rs]))
        for k in set(STAGES_ER) | set(STAGES_YOLO):
            vals = [r[k] for r in rs if k in r]
            if vals:
                row[k] = med(vals)
        row.update(params=infos[name]['params'], rss_setup_mb=stats[name]['rss_setup_mb'],
                   peak_rss_mb=stats[name]['peak_rss_mb'])
        row['train_rss_mb'] = row['peak_rss_mb'] - row['rss_setup_mb']
        rows.append(row)
    return rows


def markdown(rows, sweep, prof, env, args) -> str:
    L = ['# CPU training speed: ER-Pose vs YOLOv8n-pose, YOLO26n-pose', '',
         f'Written by `benchmarks/train_speed.py{(" " + " ".join(sys.argv[1:])) if sys.argv[1:] else ""}` on '
         f'{env["date"]}. Machine: {env["cpu"]}, {env["ncpu"]} logical CPUs, load average '
         f'before / after {env["load_before"]} / {env["load_after"]}. Batch {args.batch}, '
         f'640x640, {args.threads} torch threads, people per image {env["people"]}; '
         f'{env["iters"]} timed iterations per model after {args.warmup} warm-up, interleaved '
         f'in {args.rounds} rounds; medians.', '',
         'Versions: ' + ', '.join(f'{k} {v}' for k, v in env['versions'].items()), '',
         'One iteration = forward + assignment + loss + backward + optimizer step (ER-Pose: '
         '`data_preprocessor` -> `extract_feat` -> `head.loss` -> `parse_losses` -> the '
         'config\'s OptimWrapper (AdamW, clip_grad 10); Ultralytics: `model(img)` -> '
         '`model.loss(batch, preds)` -> `loss.sum().backward()` -> clip_grad_norm_(10) -> '
         'AdamW). No EMA, no data loading. `min` = fastest iteration; `CPU s / iter` = '
         'process CPU time (both threads) per iteration. `assign` = time inside the assigners '
         '(ER-Pose: `KeypointDrivenAssigner.assign`, SAH + MAH; Ultralytics: '
         '`TaskAlignedAssigner`), `loss` = the rest of the loss computation. Peak RSS is '
         'the worker process\' `ru_maxrss`; `train RSS` = peak minus RSS after building the '
         'model (the peers venv\'s torch is a CUDA build with a larger import footprint).', '',
         '| model | params (M) | **s / iter** | min | CPU s / iter | fwd (backbone+neck) | '
         'head fwd | assign | loss | backward | optim step | peak RSS (MB) | train RSS (MB) | '
         'load |',
         '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        fwd = r.get('backbone_neck_fwd', r.get('fwd'))
        L.append(f'| {r["model"]} | {r["params"] / 1e6:.2f} | **{fmt(r["s_per_iter"], 3)}** | '
                 f'{fmt(r["s_min"], 3)} | {fmt(r["cpu_s"], 3)} | '
                 f'{fmt(fwd, 3)} | {fmt(r.get("head_fwd"), 3)} | {fmt(r.get("assign"), 3)} | '
                 f'{fmt(r.get("loss"), 3)} | {fmt(r.get("backward"), 3)} | '
                 f'{fmt(r.get("step"), 3)} | {r["peak_rss_mb"]:.0f} | {r["train_rss_mb"]:.0f} | '
                 f'{fmt(r["load"], 1)} |')
    L.append('')
    L.append('(For the Ultralytics models "fwd" is the whole network forward, head included.)')
    by = {r['model']: r for r in rows}
    L += ['', '## Target (issue #4)', '']
    if 'erpose-n' in by and 'yolov8n-pose' in by:
        ratio = by['erpose-n']['s_per_iter'] / by['yolov8n-pose']['s_per_iter']
        L.append(f'- ER-Pose-n / YOLOv8n-pose s/iter = {ratio:.2f} (target <= {TARGET_VS_V8}) -> '
                 f'{"MET" if ratio <= TARGET_VS_V8 else "MISSED"}')
    if 'erpose-n' in by and 'yolo26n-pose' in by:
        ratio = by['erpose-n']['s_per_iter'] / by['yolo26n-pose']['s_per_iter']
        L.append(f'- ER-Pose-n / YOLO26n-pose s/iter = {ratio:.2f}')
    if 'erpose-n' in by and 'yolov8n-pose' in by:
        ratio = by['erpose-n']['cpu_s'] / by['yolov8n-pose']['cpu_s']
        L.append(f'- same on process CPU time (both threads; less sensitive to load): '
                 f'ER-Pose-n / YOLOv8n-pose = {ratio:.2f}')
    for name, ref in REF_S_PER_ITER.items():
        if name in by:
            L.append(f'- {name}: {by[name]["s_per_iter"]:.2f} s/iter here vs ~{ref:.2f} measured '
                     f'earlier on this machine (ratio {by[name]["s_per_iter"] / ref:.2f} ~ load)')
    if sweep:
        L += ['', '## Assigner and head loss vs. people per image (ER-Pose-n)', '',
              '`KeypointDrivenAssigner.assign` per image on the model\'s own predictions '
              f'({sweep["cells"]} cells), and the full head loss (both branches, assignment, '
              'losses) for the batch of 4, forward and forward + backward. 1 thread, median '
              'thread CPU time in ms.', '',
              '| people / image | assign MAH (top-10) | assign SAH (top-1) | head loss fwd | '
              'head loss fwd+bwd |', '|---|---|---|---|---|']
        for i, g in enumerate(sweep['counts']):
            L.append(f'| {g} | {1000 * sweep["assign_o2m"][i]:.2f} | '
                     f'{1000 * sweep["assign_o2o"][i]:.2f} | '
                     f'{1000 * sweep["head_loss_fwd"][i]:.1f} | '
                     f'{1000 * sweep["head_loss_fwd_bwd"][i]:.1f} |')
        g = np.asarray(sweep['counts'], float)
        L.append('')
        for key in ('assign_o2m', 'assign_o2o', 'head_loss_fwd_bwd'):
            t = np.asarray(sweep[key])
            slope, icpt = np.polyfit(g, t, 1)
            growth = t[-1] / t[0]
            L.append(f'- {key}: {1000 * icpt:.2f} ms + {1000 * slope:.3f} ms x people (linear '
                     f'fit); {g[-1] / g[0]:.0f}x people -> {growth:.1f}x time '
                     f'({"at most linear" if growth <= g[-1] / g[0] else "SUPER-LINEAR"})')
    if prof:
        L += ['', '## Profile of one ER-Pose-n training iteration (torch.profiler)', '',
              '| stage | ms / iter |', '|---|---|']
        for k, v in prof['stages_ms'].items():
            L.append(f'| {k} | {v:.0f} |')
        L.append(f'| of which backward through backbone+neck (measured alone) | '
                 f'{prof["backbone_neck_bwd_ms"]:.0f} of {prof["total_bwd_ms"]:.0f} |')
        L += ['', 'Top ops by self CPU time (ms / iter): ' + ', '.join(
            f'{o["op"]} {o["self_ms"]:.0f} ({o["calls"]}x)' for o in prof['top_ops']) + '.']
    L += ['', 'Re-run on a quiet machine for final numbers: '
          '`.venv/bin/python benchmarks/train_speed.py`.']
    return '\n'.join(L) + '\n'


def plot_sweep(sweep, out_file) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    g = sweep['counts']
    axes[0].plot(g, 1000 * np.asarray(sweep['assign_o2m']), 'o-', label='assign MAH (top-10)')
    axes[0].plot(g, 1000 * np.asarray(sweep['assign_o2o']), 's-', label='assign SAH (top-1)')
    axes[0].set_xlabel('people per image')
    axes[0].set_ylabel('ms per image')
    axes[0].set_title('KeypointDrivenAssigner.assign')
    axes[1].plot(g, 1000 * np.asarray(sweep['head_loss_fwd']), 'o-', label='forward')
    axes[1].plot(g, 1000 * np.asarray(sweep['head_loss_fwd_bwd']), 's-', label='forward+backward')
    axes[1].set_xlabel('people per image')
    axes[1].set_ylabel('ms per batch of 4')
    axes[1].set_title('ER-Pose-n head loss (both branches)')
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='few iterations: a smoke run')
    p.add_argument('--iters', type=int, default=None, help='timed iterations per model (20)')
    p.add_argument('--warmup', type=int, default=None, help='warm-up iterations (2)')
    p.add_argument('--rounds', type=int, default=None, help='interleaving rounds (4)')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--people', default='3,5,6,8', help='people per image (one per image)')
    p.add_argument('--models', default='erpose-n,erpose-s,yolov8n-pose,yolo26n-pose')
    p.add_argument('--no-sweep', action='store_true', help='skip the assigner sweep')
    p.add_argument('--profile', action='store_true', help='torch.profiler breakdown of ER-Pose-n')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--bench-python', default=os.environ.get('BENCH_PYTHON', DEFAULT_BENCH_PY))
    p.add_argument('--out-dir', default=osp.join(ROOT, 'docs'))
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
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    report = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.makedirs(args.work_dir, exist_ok=True)
    people = [int(x) for x in args.people.split(',')]
    people = (people * args.batch)[:args.batch]
    env = dict(date=time.strftime('%Y-%m-%d %H:%M'), ncpu=os.cpu_count(), people=people,
               load_before=f'{loadavg():.2f}', iters=args.iters,
               cpu=platform.processor() or platform.machine())
    try:
        with open('/proc/cpuinfo') as f:
            env['cpu'] = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except Exception:
        pass
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
        proxies[name] = WorkerProxy(py, osp.abspath(__file__), kind,
                                    osp.join(args.work_dir, f'worker_{name}.log'))
        infos[name] = proxies[name].call('setup', model=name, batch=args.batch, people=people,
                                         threads=args.threads, seed=args.seed)
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
    if 'erpose-n' in proxies and not args.no_sweep:
        log('[train_speed] assigner sweep ...')
        sweep = proxies['erpose-n'].call('assign_sweep', counts=list(PEOPLE_SWEEP),
                                         iters=args.sweep_iters, seed=args.seed)
        sweep['cells'] = (INPUT // 16) ** 2 + (INPUT // 32) ** 2
    if 'erpose-n' in proxies and args.profile:
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
        out = subprocess.run([args.bench_python, '-c', 'import torch, importlib.metadata as m; '
                              'print(torch.__version__, m.version("ultralytics"))'],
                             capture_output=True, text=True).stdout.split()
        if len(out) == 2:
            versions['peers torch'], versions['ultralytics'] = out
    for px in proxies.values():
        px.close()
    env['load_after'] = f'{loadavg():.2f}'
    env['versions'] = versions
    text = markdown(rows, sweep, prof, env, args)
    report.write(text)
    report.flush()
    if not args.no_write:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(osp.join(args.out_dir, f'train_speed_cpu{args.suffix}.md'), 'w') as f:
            f.write(text)
        with open(osp.join(args.out_dir, f'train_speed_cpu{args.suffix}.json'), 'w') as f:
            json.dump(dict(env=env, rows=rows, sweep=sweep, profile=prof, infos=infos,
                           args=vars(args)), f, indent=1, default=str)
        if sweep:
            plot_sweep(sweep, osp.join(args.out_dir, f'assigner_vs_people{args.suffix}.png'))


if __name__ == '__main__':
    main()
