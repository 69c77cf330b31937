#!/usr/bin/env python
"""Dispatched ops and host synchronisations of one training step, per stage.

On a GPU a model as small as ER-Pose-n is bound by kernel launches, not arithmetic. The
CPU proxy counted here: every aten op that reaches PyTorch's dispatcher below autograd
(a ``TorchDispatchMode``: the ops of the forward, of the autograd backward and of the
optimiser, after composite ops are decomposed; a kernel on a GPU is at least one launch
per op, view ops launch none and are counted apart), and the ops that force a host-device
synchronisation on a GPU (``.item()`` / ``float()`` / ``bool()`` of a tensor, ``nonzero``,
``masked_select``, indexing or index-assignment with a boolean mask, ``unique``,
``repeat_interleave`` without ``output_size``, ``equal``).

One training step at batch 32, input 640, on the synthetic people of
``benchmarks/speed/train_step_common.py`` (3, 5, 6, 8 people per image in turn), after one
warm-up step (the optimiser's state and the EMA exist), for

* ER-Pose-n / -s: ``BaseModel.train_step``'s work with the config's optimiser wrapper
  (grouped AdamW, clip_grad_norm_ 10) and the config's EMA (``DedupExpMomentumEMA``), split
  into the head's stages: data preprocessor, backbone+neck, MAH / SAH branch forwards,
  decode, padded targets, assignment (MAH top-k, SAH one-to-one matching), losses, the rest
  of the head's loss, backward, gradient clipping, optimiser step, EMA update;
* YOLOv8n-pose / YOLO26n-pose (peers venv): the Ultralytics trainer's step (preprocess,
  forward, ``model.loss``, backward, clip_grad_norm_ 10, AdamW of the trainer's three
  parameter groups, ``ModelEMA``); the assigner (TAL) is counted apart from the rest of
  the loss.

Optimisers as on a GPU, where they run multi-tensor: ER-Pose's AdamW with ``foreach=True``
(PyTorch's default on CUDA), the peers' with ``fused=True`` (what the Ultralytics trainer
picks on CUDA). The logger's ``.item()`` of every logged loss is left out for every model.

    .venv/bin/python -m benchmarks.step_ops                    # table on stdout
    .venv/bin/python -m benchmarks.step_ops --out benchmarks/results/step_ops_cpu.md
    .venv/bin/python -m benchmarks.step_ops --models erpose-n --detail   # top ops per stage

The Ultralytics rows come from a subprocess in the peers venv (``--worker yolo``, JSON).
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import Counter, defaultdict

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

BATCH = 32
PEOPLE = '3,5,6,8'
MODELS = ('erpose-n', 'erpose-s', 'yolov8n-pose', 'yolo26n-pose')
STAGES_ER = ('data preprocessor', 'backbone+neck', 'MAH branches', 'SAH branches', 'decode',
             'targets', 'assign MAH top-k', 'assign SAH one-to-one', 'losses', 'head other',
             'backward', 'clip', 'optimiser', 'EMA')
STAGES_YOLO = ('data preprocessor', 'forward', 'assign', 'losses', 'backward', 'clip',
               'optimiser', 'EMA')


# ----------------------------------------------------------------------------- the counter
class StageCounter:
    """Counts ops per stage under a ``TorchDispatchMode``; ``stage(name)`` labels the ops
    dispatched inside it (the innermost label wins)."""

    def __init__(self):
        self.stack = ['other']
        self.ops = Counter()
        self.views = Counter()
        self.syncs = Counter()
        self.names = defaultdict(Counter)
        self.sync_names = defaultdict(Counter)
        self.host = Counter()
        self.h2d = Counter()
        # tensors a GPU run keeps on the host (the optimisers' step counters, the EMA's step
        # count) and the results of ops on them only: their ops neither launch a kernel nor
        # synchronise
        from torch.utils.weak import WeakTensorKeyDictionary
        self.host_tensors = WeakTensorKeyDictionary()

    def clear(self) -> None:
        for k in (self.ops, self.views, self.syncs, self.names, self.sync_names, self.host,
                  self.h2d):
            k.clear()

    def add_host_tensors(self, optimizer=None, tensors=()) -> None:
        """``optimizer``'s step counters and ``tensors`` are host tensors."""
        steps = [st['step'] for st in optimizer.state.values() if 'step' in st] \
            if optimizer is not None else []
        for t in list(steps) + list(tensors):
            if not t.is_cuda:
                self.host_tensors[t] = True

    @contextlib.contextmanager
    def stage(self, name: str):
        self.stack.append(name)
        try:
            yield
        finally:
            self.stack.pop()

    def wrap(self, obj, attr: str, name: str) -> None:
        """``obj.attr`` (a bound method or module forward) counted under ``name``."""
        fn = getattr(obj, attr)

        def wrapped(*a, **k):
            with self.stage(name):
                return fn(*a, **k)
        setattr(obj, attr, wrapped)

    @staticmethod
    def is_sync(func, args, kwargs) -> bool:
        import torch
        aten = torch.ops.aten
        base = func.overloadpacket
        if base in (aten._local_scalar_dense, aten.item, aten.nonzero, aten.masked_select,
                    aten.is_nonzero, aten.equal, aten._unique, aten._unique2, aten.unique_dim,
                    aten.unique_consecutive, aten.masked_scatter_):
            return True
        if base is aten.repeat_interleave:
            return kwargs.get('output_size') is None and (len(args) < 4 or args[3] is None)
        if base in (aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_):
            idx = args[1] if len(args) > 1 else kwargs.get('indices', ())
            return any(t is not None and t.dtype in (torch.bool, torch.uint8) for t in idx)
        return False

    def mode(self):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                st = counter.stack[-1]
                name = str(func.overloadpacket).replace('aten.', '')
                flat = [t for a in list(args) + list(kwargs.values())
                        for t in (a if isinstance(a, (list, tuple)) else (a,))
                        if isinstance(t, torch.Tensor)]
                if name.startswith('profiler.') or (
                        flat and all(t in counter.host_tensors for t in flat)):
                    counter.host[st] += 1
                    out = func(*args, **kwargs)
                    for t in (out if isinstance(out, (list, tuple)) else (out,)):
                        if isinstance(t, torch.Tensor):
                            counter.host_tensors[t] = True
                    return out
                if name == 'lift_fresh':   # a tensor made of Python values
                    counter.h2d[st] += 1
                elif getattr(func, 'is_view', False) or name in ('detach', 'alias'):
                    counter.views[st] += 1
                else:
                    counter.ops[st] += 1
                    counter.names[st][name] += 1
                if counter.is_sync(func, args, kwargs):
                    counter.syncs[st] += 1
                    counter.sync_names[st][name] += 1
                return func(*args, **kwargs)
        return Mode()

    def result(self, model: str, stages, detail: bool = False) -> dict:
        keys = list(stages) + sorted(set(self.ops) | set(self.views) - set(stages))
        out = dict(model=model, stages={
            k: dict(ops=self.ops[k], views=self.views[k], syncs=self.syncs[k], h2d=self.h2d[k],
                    host=self.host[k])
            for k in keys
            if k in stages or self.ops[k] or self.views[k]})
        if detail:
            out['detail'] = {k: dict(top=self.names[k].most_common(12),
                                     syncs=dict(self.sync_names[k])) for k in keys}
        return out


# ----------------------------------------------------------------------------- ER-Pose
def erpose_count(model: str, batch: int, people, detail: bool) -> dict:
    import torch
    torch.set_num_threads(1)
    from benchmarks.speed.train_step_erpose import ERPoseWorker
    from erpose_mm.engine.ema import DedupExpMomentumEMA
    w = ERPoseWorker()
    w.setup(model=model, batch=batch, people=people, threads=1, seed=0)
    m, ow = w.model, w.optim
    for g in ow.optimizer.param_groups:   # the multi-tensor AdamW of a GPU
        g['foreach'] = True
    ema_cfg = next(h for h in w.cfg.custom_hooks if h['type'] == 'EMAHook')
    ema = DedupExpMomentumEMA(m, momentum=ema_cfg['momentum'],
                              update_buffers=ema_cfg['update_buffers'])
    c = StageCounter()
    head = m.head
    c.wrap(head.one2one, 'forward', 'SAH branches')
    if head.one2many is not None:
        c.wrap(head.one2many, 'forward', 'MAH branches')
        c.wrap(head.assigner_one2many, 'assign_batch', 'assign MAH top-k')
    c.wrap(head, 'decode', 'decode')
    c.wrap(head, 'batch_targets', 'targets')
    c.wrap(head, 'assign_one2one', 'assign SAH one-to-one')
    c.wrap(head, 'branch_loss', 'losses')
    c.wrap(ow, '_clip_grad', 'clip')
    c.wrap(ow.optimizer, 'step', 'optimiser')

    def step():
        with c.stage('data preprocessor'):
            data = m.data_preprocessor(w.data, True)
        with ow.optim_context(m):
            with c.stage('backbone+neck'):
                feats = m.extract_feat(data['inputs'])
            with c.stage('head other'):
                losses = m.head.loss(feats, data['data_samples'], train_cfg=m.train_cfg)
            with c.stage('losses'):
                loss, _ = m.parse_losses(losses)
        with c.stage('backward'):
            ow.backward(loss)
        with c.stage('optimiser'):
            ow.step()
            ow.zero_grad()
        with c.stage('EMA'):
            ema.update_parameters(m)

    step()   # warm-up: optimiser state, EMA copy, prior cache
    c.clear()
    c.add_host_tensors(ow.optimizer, [ema.steps])   # steps: a CPU buffer (EMAHook's device=None)
    with c.mode():
        step()
    return c.result(f'ER-Pose-{model.split("-")[1]}', STAGES_ER, detail)


# ----------------------------------------------------------------------------- Ultralytics
def yolo_count(model: str, batch: int, people, detail: bool) -> dict:
    import torch
    from types import SimpleNamespace
    from ultralytics.engine.trainer import BaseTrainer
    from ultralytics.utils.torch_utils import ModelEMA
    from benchmarks.speed.train_step_yolo import YOLOWorker
    w = YOLOWorker()
    w.setup(model=model, batch=batch, people=people, threads=1, seed=0)
    torch.set_num_threads(1)
    net = w.net
    # the trainer's three groups (weights with decay, norm weights, biases); fused on a GPU
    opt = BaseTrainer.build_optimizer(SimpleNamespace(args=None), net, name='AdamW', lr=1e-3,
                                      momentum=0.937, decay=5e-4)
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k not in ('fused', 'foreach')}
                             for g in opt.param_groups], fused=True)
    ema = ModelEMA(net)
    c = StageCounter()
    crit = net.criterion
    for sub in ([crit.one2many, crit.one2one] if hasattr(crit, 'one2one') else [crit]):
        c.wrap(sub.assigner, 'forward', 'assign')

    def step():
        with c.stage('data preprocessor'):
            b = dict(w.batch)
            b['img'] = b['img'].float() / 255
        with c.stage('forward'):
            preds = net(b['img'])
        with c.stage('losses'):
            loss, _ = net.loss(b, preds)
            loss = loss.sum()
        with c.stage('backward'):
            loss.backward()
        with c.stage('clip'):
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=10.0)
        with c.stage('optimiser'):
            opt.step()
            opt.zero_grad()
        with c.stage('EMA'):
            ema.update(net)

    step()
    c.clear()
    c.add_host_tensors(opt)
    with c.mode():
        step()
    name = {'yolov8n-pose': 'YOLOv8n-pose', 'yolo26n-pose': 'YOLO26n-pose'}.get(model, model)
    return c.result(name, STAGES_YOLO, detail)


# ----------------------------------------------------------------------------- report
def markdown(rows, cpu: str, cmd: str, before=None, before_label: str = '') -> str:
    """Per-stage table of every model: ops, syncs, h2d (each beside its ``before`` value
    where ``before``, rows of another code state, has the model) and views."""
    date = time.strftime('%Y-%m-%d')
    try:
        commit = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = '?'
    tot = {r['model']: sum(s['ops'] for s in r['stages'].values()) for r in rows}
    v8 = tot.get('YOLOv8n-pose')
    lines = ['# One training step: dispatched ops and host syncs per stage', '',
             f'_Generated by `{cmd}` on {date} at {commit}; CPU: {cpu}; batch {BATCH}, '
             f'input 640, people per image {PEOPLE}._', '',
             '**ops**: aten ops reaching the dispatcher (TorchDispatchMode: forward, autograd '
             'backward, optimiser), view ops (**views**, no kernel) apart, ops on tensors a GPU '
             'run keeps on the host (optimiser step counters, the EMA step count) left out; '
             '**syncs**: ops that block the host on a GPU (`item`/`float`/`bool` of a tensor, '
             '`nonzero`, boolean-mask indexing, ...); **h2d**: tensors made of Python values '
             '(`torch.tensor`, `new_tensor`, a list index), on a GPU a blocking host-to-device '
             'copy when made for the device (the data preprocessor\'s: its per-image channel '
             'index, and MMEngine `stack_batch`\'s size table, which stays on the host). '
             'A count on the CPU, the proxy of kernel launches: the GPU step time is not '
             'measured here. Optimisers multi-tensor as on a GPU (ER-Pose: foreach AdamW; '
             'Ultralytics: fused AdamW, the trainer\'s choice on CUDA). The logger\'s '
             '`.item()` of each logged value is left out for every model. See the docstring '
             'of `benchmarks/step_ops.py`.', ''] + (
                 [f'"before" columns: {before_label}', ''] if before and before_label else [])
    bkey = {r['model']: r for r in (before or [])}
    cols = ('ops', 'syncs', 'h2d', 'views')

    def total(r, c):
        return sum(st.get(c, 0) for st in r['stages'].values())
    for r in rows:
        b = bkey.get(r['model'])
        if b:
            head = '| stage | ' + ' | '.join(f'{c} before | {c}' for c in cols) + ' |'
        else:
            head = '| stage | ' + ' | '.join(cols) + ' |'
        lines += [f'### {r["model"]}', '', head,
                  '|---|' + '---:|' * (len(cols) * (2 if b else 1))]
        for k, st in r['stages'].items():
            if b:
                bs = b['stages'].get(k, {})
                cells = [f'{bs.get(c, 0)} | {st.get(c, 0)}' for c in cols]
            else:
                cells = [str(st.get(c, 0)) for c in cols]
            lines.append(f'| {k} | ' + ' | '.join(cells) + ' |')
        if b:
            cells = [f'**{total(b, c)}** | **{total(r, c)}**' for c in cols]
        else:
            cells = [f'**{total(r, c)}**' for c in cols]
        lines.append('| **total** | ' + ' | '.join(cells) + ' |')
        lines.append('')
    if v8:
        lines += ['### Totals vs YOLOv8n-pose', '',
                  '| model | ops | x YOLOv8n-pose ops | syncs | h2d | views |',
                  '|---|---:|---:|---:|---:|---:|']
        for r in rows:
            for label, x in ((r['model'] + ' (before)', bkey.get(r['model'])), (r['model'], r)):
                if x is not None:
                    lines.append(f'| {label} | {total(x, "ops")} | {total(x, "ops") / v8:.2f} | '
                                 f'{total(x, "syncs")} | {total(x, "h2d")} | '
                                 f'{total(x, "views")} |')
        lines.append('')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--batch', type=int, default=BATCH)
    p.add_argument('--people', default=PEOPLE)
    p.add_argument('--detail', action='store_true', help='most frequent ops of each stage')
    p.add_argument('--json', default=None, help='write the raw counts here')
    p.add_argument('--before', default=None, help='raw counts (--json) of an earlier run: '
                   'shown as "before" columns')
    p.add_argument('--before-label', default='', help='what the "before" columns measured')
    p.add_argument('--out', default=None, help='write the markdown table here')
    p.add_argument('--worker', choices=['erpose', 'yolo'], help=argparse.SUPPRESS)
    p.add_argument('--bench-python', default=os.environ.get('BENCH_PYTHON') or
                   osp.join(ROOT, '.bench_venv', 'bin', 'python'))
    a = p.parse_args()
    people = [int(x) for x in a.people.split(',')]
    people = (people * a.batch)[:a.batch]
    models = a.models.split(',')
    if a.worker == 'yolo':
        print(json.dumps([yolo_count(m, a.batch, people, a.detail) for m in models]))
        return
    rows = [erpose_count(m, a.batch, people, a.detail) for m in models if m.startswith('erpose')]
    peers = [m for m in models if not m.startswith('erpose')]
    if peers and osp.isfile(a.bench_python):
        from benchmarks.common.peers import peers_env
        env = peers_env(a.bench_python, dict(os.environ, OMP_NUM_THREADS='1'))
        res = subprocess.run([a.bench_python, '-m', 'benchmarks.step_ops', '--worker', 'yolo',
                              '--models', ','.join(peers), '--batch', str(a.batch),
                              '--people', a.people] + (['--detail'] if a.detail else []),
                             capture_output=True, text=True, env=env, cwd=ROOT)
        if res.returncode:
            print(res.stderr[-3000:], file=sys.stderr)
            raise SystemExit('the Ultralytics worker failed (above)')
        rows += json.loads(res.stdout.strip().splitlines()[-1])
    elif peers:
        print(f'no peers python at {a.bench_python}: Ultralytics rows skipped', file=sys.stderr)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(rows, f, indent=1)
    if a.detail:
        for r in rows:
            for k, d in r.get('detail', {}).items():
                print(r['model'], k, d, file=sys.stderr)
    from benchmarks.common.machine import cpu_line
    before = None
    if a.before:
        with open(a.before) as f:
            before = json.load(f)
    cmd = '.venv/bin/python -m benchmarks.step_ops' + (' ' + ' '.join(sys.argv[1:]) if
                                                         len(sys.argv) > 1 else '')
    md = markdown(rows, cpu_line(), cmd, before, a.before_label)
    print(md)
    if a.out:
        os.makedirs(osp.dirname(osp.abspath(a.out)), exist_ok=True)
        with open(a.out, 'w') as f:
            f.write(md + '\n')


if __name__ == '__main__':
    main()
