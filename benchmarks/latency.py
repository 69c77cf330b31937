#!/usr/bin/env python
"""CPU latency of ER-Pose versus YOLOv8n-pose, YOLO26n-pose and RTMO-s (issue #4).

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
``erpose_mm.deploy.export.export_onnx``, pre/post with ``erpose_mm/deploy/onnx_runner.py``)
and RTMO-s (MMPose config, exported with MMDeploy; its NMS is inside the graph).

It also sweeps the decode / NMS cost against the number of confident candidates
(1..300): ER-Pose top-k decode versus YOLOv8 NMS (and YOLO26's top-k filter).

Outputs: a markdown table on stdout and in ``docs/latency_cpu.md``, raw numbers in
``docs/latency_cpu.json``, plots ``docs/latency_cpu.png`` and ``docs/decode_vs_people.png``.

    .venv/bin/python benchmarks/latency.py            # full run (~15-25 min on 2 quiet cores)
    .venv/bin/python benchmarks/latency.py --quick    # smoke run (few iterations)
    .venv/bin/python benchmarks/latency.py --profile  # + ORT op profile of ER-Pose-n / YOLOv8n

All models have random weights (no checkpoints can be downloaded here): model time does
not depend on the weights, but the number of candidates an NMS sees does -- see the sweep.
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common.machine import loadavg, log  # noqa: E402
from benchmarks.common.rpc import WorkerProxy, serve  # noqa: E402
from benchmarks.common.stats import med  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_IMAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'shared', 'data', 'demo', 'demo_mp4_frame000.jpg')
DEFAULT_BENCH_PY = osp.join(ROOT, '.bench_venv', 'bin', 'python')
INPUT = 640
# targets of issue #4 (ratios of ER-Pose-n end-to-end to the peers, ORT, 1 thread)
TARGET_VS_V8 = 0.65
TARGET_VS_26 = 0.75
# reference "model only, 1 thread" numbers measured by others on this machine
REF_MODEL_MS = {'yolov8n-pose': 102.0, 'yolo26n-pose': 89.0}
SWEEP_COUNTS = (1, 2, 5, 10, 20, 50, 100, 150, 200, 300)


# ----------------------------------------------------------------------------- common helpers


def make_ort_session(path: str, threads: int, profile_prefix: Optional[str] = None):
    """The same ORT CPU session options for every model: sequential, ``threads`` intra-op
    threads, full graph optimisation."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])


def set_threads(n: int) -> None:
    """Torch intra-op threads and OpenCV threads for a block of iterations."""
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        import cv2
        cv2.setNumThreads(n)
    except ImportError:
        pass


class Case:
    """One (model, runtime, threads) measurement. ``step()`` runs one end-to-end iteration
    and returns ``dict(pre=, model=, post=, e2e=[, n_cand=, n_out=])`` in seconds."""

    def __init__(self, model: str, runtime: str, threads: int, step: Callable[[], dict],
                 info: Optional[dict] = None):
        self.model, self.runtime, self.threads = model, runtime, threads
        self.step = step
        self.info = info or {}

    @property
    def key(self) -> str:
        return f'{self.model}|{self.runtime}|{self.threads}'

    def run(self, n: int) -> List[dict]:
        set_threads(self.threads)
        out = []
        for _ in range(n):
            r = self.step()
            r['load'] = loadavg()
            out.append(r)
        return out


def ort_stage_step(pre: Callable, sess, feed_name: str, post: Callable) -> Callable[[], dict]:
    """Wrap (pre, ORT run, post) into a timed step."""
    def step():
        c0, t0 = time.thread_time(), time.perf_counter()
        x, meta = pre()
        c1, t1 = time.thread_time(), time.perf_counter()
        outs = sess.run(None, {feed_name: x})
        c2, t2 = time.thread_time(), time.perf_counter()
        n_cand, n_out = post(outs, meta)
        c3, t3 = time.thread_time(), time.perf_counter()
        return dict(pre=t1 - t0, model=t2 - t1, post=t3 - t2, e2e=t3 - t0, n_cand=n_cand,
                    n_out=n_out, model_cpu=c2 - c1, e2e_cpu=c3 - c0)
    return step


# ----------------------------------------------------------------------------- peers (worker side)
def _peer_yaml(name: str, tmp: str) -> str:
    """Ultralytics model yaml for a 1-class (person) pose model. yolo26-pose.yaml ships
    with ``nc: 80``; COCO-pose training uses ``nc: 1`` (as yolov8-pose.yaml), so rewrite it.
    The scale letter is taken from the file name, so the name is kept."""
    import re
    import ultralytics
    cfg_dir = osp.join(osp.dirname(ultralytics.__file__), 'cfg', 'models')
    family = {'yolov8n-pose': ('v8', 'yolov8-pose.yaml'), 'yolo26n-pose': ('26', 'yolo26-pose.yaml')}
    sub, fname = family[name]
    txt = open(osp.join(cfg_dir, sub, fname)).read()
    txt = re.sub(r'^nc: *\d+', 'nc: 1', txt, flags=re.M)
    os.makedirs(tmp, exist_ok=True)
    out = osp.join(tmp, name + '.yaml')
    with open(out, 'w') as f:
        f.write(txt)
    return out


def build_peer(name: str, work_dir: str):
    """Ultralytics YOLO object built from yaml (random init, seeded)."""
    import torch
    from ultralytics import YOLO
    torch.manual_seed(0)
    return YOLO(_peer_yaml(name, osp.join(work_dir, 'yaml')))


class PeersWorker:
    """Runs inside the peers venv: builds / exports the Ultralytics models and times them."""

    def __init__(self, args):
        self.args = args
        self.cases: Dict[str, Case] = {}
        self.models = {}

    # ---- setup
    def setup(self, threads: List[int], image: str, work_dir: str, eager: bool,
              models: List[str], conf: float = 0.25, iou: float = 0.7) -> List[dict]:
        import cv2
        import torch
        from ultralytics.data.augment import LetterBox
        from ultralytics.utils import nms as unms
        from ultralytics.utils import ops
        os.makedirs(work_dir, exist_ok=True)
        img0 = cv2.imread(image)
        letterbox = LetterBox((INPUT, INPUT), auto=False, stride=32)
        self.conf, self.iou = conf, iou

        def pre_np():
            im = letterbox(image=img0)
            x = np.ascontiguousarray(im.transpose(2, 0, 1)[::-1])[None].astype(np.float32) / 255.0
            return x, im.shape[:2]

        def pre_torch():
            # as ultralytics' BasePredictor.preprocess
            im = letterbox(image=img0)
            t = torch.from_numpy(im).unsqueeze(0).permute(0, 3, 1, 2).contiguous().flip(1)
            return t.float().div_(255), im.shape[:2]

        def make_post(end2end: bool, nc: int = 1):
            def post(pred, shape):
                if isinstance(pred, (list, tuple)):
                    pred = pred[0]
                if isinstance(pred, np.ndarray):
                    pred = torch.from_numpy(pred)
                if end2end:
                    n_cand = int((pred[0, :, 4] > conf).sum())
                else:
                    n_cand = int((pred[0, 4:4 + nc].amax(0) > conf).sum())
                dets = unms.non_max_suppression(pred, conf, iou, None, False, max_det=300, nc=nc,
                                                end2end=end2end)[0]
                boxes = ops.scale_boxes(shape, dets[:, :4].clone(), img0.shape)
                kpts = dets[:, 6:].view(dets.shape[0], 17, 3)
                kpts = ops.scale_coords(shape, kpts.clone(), img0.shape)
                return n_cand, int(boxes.shape[0])
            return post

        def ingraph_nms_post(outs, shape):
            # export with nms=True: output (1, 300, 57) = xyxy, conf, cls, 17x3 keypoints
            det = torch.from_numpy(outs[0])[0]
            det = det[det[:, 4] > conf]
            boxes = ops.scale_boxes(shape, det[:, :4].clone(), img0.shape)
            kpts = ops.scale_coords(shape, det[:, 6:].view(-1, 17, 3).clone(), img0.shape)
            return int(det.shape[0]), int(boxes.shape[0])

        descr = []
        for name in models:
            yolo = build_peer(name, work_dir)
            net = yolo.model
            n_params = sum(p.numel() for p in net.parameters())
            # a model with a one-to-one head (YOLO26) runs NMS-free: Ultralytics 8.4 only
            # selects that head when asked (export nms=False / model.end2end = True)
            end2end = getattr(net.model[-1], 'one2one_cv2', None) is not None
            exports = {}
            # YOLO26: nms=False -> the NMS-free one-to-one head (top-k in graph)
            # YOLOv8: raw head (NMS afterwards in Python) and, as a variant, NMS in graph
            variants = [('', dict(nms=False) if end2end else dict())]
            if not end2end:
                variants.append(('+nms-graph', dict(nms=True)))
            for suffix, kw in variants:
                f = yolo.export(format='onnx', imgsz=INPUT, dynamic=False, batch=1, simplify=True,
                                **kw)
                dst = osp.join(work_dir, f'{name}{suffix}.onnx')
                os.replace(f, dst)
                exports[suffix] = dst
            set_threads(max(threads))
            deploy = build_peer(name, work_dir).model
            if end2end:
                deploy.end2end = True
            deploy = deploy.fuse(verbose=False).eval()
            n_params_deploy = sum(p.numel() for p in deploy.parameters())
            self.models[name] = deploy
            info = dict(params=n_params, params_deploy=n_params_deploy,
                        in_graph='top-k (one-to-one head)' if end2end else 'nothing (raw head)',
                        post='ultralytics non_max_suppression(end2end) + scale' if end2end else
                        'ultralytics non_max_suppression (torchvision NMS) + scale')
            for t in threads:
                for suffix, path in exports.items():
                    sess = make_ort_session(path, t)
                    post = ingraph_nms_post if suffix else make_post(end2end)
                    inf = dict(info)
                    if suffix:
                        inf.update(in_graph='NMS (export nms=True)', post='conf filter + scale')
                    c = Case(name + suffix, 'ort', t, ort_stage_step(pre_np, sess, 'images', post),
                             inf)
                    self.cases[c.key] = c
                if eager:
                    c = Case(name, 'torch', t, self._eager_step(deploy, pre_torch,
                                                                 make_post(end2end)), info)
                    self.cases[c.key] = c
        for c in self.cases.values():
            descr.append(dict(key=c.key, model=c.model, runtime=c.runtime, threads=c.threads,
                              info=c.info))
        return descr

    @staticmethod
    def _eager_step(net, pre, post):
        import torch

        def step():
            with torch.inference_mode():
                c0, t0 = time.thread_time(), time.perf_counter()
                x, shape = pre()
                t1 = time.perf_counter()
                c1 = time.thread_time()
                y = net(x)
                c2, t2 = time.thread_time(), time.perf_counter()
                n_cand, n_out = post(y, shape)
                c3, t3 = time.thread_time(), time.perf_counter()
            return dict(pre=t1 - t0, model=t2 - t1, post=t3 - t2, e2e=t3 - t0, n_cand=n_cand,
                        n_out=n_out, model_cpu=c2 - c1, e2e_cpu=c3 - c0)
        return step

    # ---- decode / NMS sweep
    def sweep(self, counts, iters: int, threads: int) -> dict:
        """YOLOv8 NMS and YOLO26 top-k filter on synthetic raw outputs with N confident
        candidates (random boxes / keypoints); everything else below the threshold."""
        import torch
        from ultralytics.utils import nms as unms
        from ultralytics.utils import ops
        set_threads(threads)
        rng = np.random.default_rng(0)
        res = {'yolov8n-pose NMS': [], 'yolov8n-pose NMS, 10 cand./person': [],
               'yolo26n-pose top-k filter': []}
        A = 8400

        def time_nms(raw: np.ndarray) -> float:
            """Median thread time of Ultralytics NMS + rescaling on one raw YOLOv8 output."""
            pred = torch.from_numpy(raw)
            ts = []
            for i in range(iters + 5):
                t0 = time.thread_time()
                d = unms.non_max_suppression(pred, self.conf, self.iou, None, False, max_det=300,
                                             nc=1)[0]
                ops.scale_boxes((INPUT, INPUT), d[:, :4].clone(), (540, 960))
                ops.scale_coords((INPUT, INPUT), d[:, 6:].view(-1, 17, 3).clone(), (540, 960))
                if i >= 5:
                    ts.append(time.thread_time() - t0)
            return med(ts)

        for n in counts:
            # YOLOv8 raw: (1, 4 + 1 + 51, 8400), xywh in input px
            raw = np.zeros((1, 56, A), np.float32)
            raw[0, 4] = rng.uniform(0, 0.05, A)
            idx = rng.choice(A, n, replace=False)
            wh = rng.uniform(30, 300, (2, n))
            raw[0, 0:2, idx] = rng.uniform(50, 590, (n, 2))
            raw[0, 2:4, idx] = wh.T
            raw[0, 4, idx] = rng.uniform(0.3, 0.99, n)
            raw[0, 5:, :] = rng.uniform(0, 640, (51, A))
            res['yolov8n-pose NMS'].append(time_nms(raw))
            # N people, each seen by 10 overlapping anchors (what a trained dense head
            # passes to NMS), capped by the 8400 anchors
            per = 10
            m = min(n * per, A)
            raw = np.zeros((1, 56, A), np.float32)
            raw[0, 4] = rng.uniform(0, 0.05, A)
            idx = rng.choice(A, m, replace=False)
            ctr = np.repeat(rng.uniform(50, 590, (n, 2)), per, 0)[:m]
            wh = np.repeat(rng.uniform(30, 300, (n, 2)), per, 0)[:m]
            raw[0, 0:2, idx] = ctr + rng.normal(0, 3, (m, 2))
            raw[0, 2:4, idx] = wh * rng.uniform(0.9, 1.1, (m, 2))
            raw[0, 4, idx] = rng.uniform(0.3, 0.99, m)
            raw[0, 5:, :] = rng.uniform(0, 640, (51, A))
            res['yolov8n-pose NMS, 10 cand./person'].append(time_nms(raw))
            # YOLO26 end2end: (1, 300, 57) xyxy, conf, cls, kpts
            e2e = np.zeros((1, 300, 57), np.float32)
            e2e[0, :, 4] = rng.uniform(0, 0.05, 300)
            e2e[0, :min(n, 300), 4] = rng.uniform(0.3, 0.99, min(n, 300))
            e2e[0, :, :4] = rng.uniform(0, 640, (300, 4))
            e2e[0, :, 6:] = rng.uniform(0, 640, (300, 51))
            pred = torch.from_numpy(e2e)
            ts = []
            for i in range(iters + 5):
                t0 = time.thread_time()
                d = unms.non_max_suppression(pred, self.conf, self.iou, None, False, max_det=300,
                                             nc=1, end2end=True)[0]
                ops.scale_boxes((INPUT, INPUT), d[:, :4].clone(), (540, 960))
                ops.scale_coords((INPUT, INPUT), d[:, 6:].view(-1, 17, 3).clone(), (540, 960))
                if i >= 5:
                    ts.append(time.thread_time() - t0)
            res['yolo26n-pose top-k filter'].append(med(ts))
        return res

    def profile(self, name: str, threads: int, iters: int, work_dir: str) -> dict:
        path = osp.join(work_dir, f'{name}.onnx')
        return ort_profile(path, threads, iters, osp.join(work_dir, f'prof_{name}'))

    def info(self) -> dict:
        import onnxruntime
        import torch
        import ultralytics
        return dict(torch=torch.__version__, ultralytics=ultralytics.__version__,
                    onnxruntime=onnxruntime.__version__)


def worker_main(args) -> None:
    """Peers-venv side: serve the PeersWorker's commands (see benchmarks/common/rpc.py)."""
    os.environ.setdefault('YOLO_OFFLINE', '1')
    os.environ.setdefault('YOLO_VERBOSE', 'False')
    w = PeersWorker(args)
    serve(dict(setup=w.setup, run=lambda key, n: w.cases[key].run(n), sweep=w.sweep,
               profile=w.profile, info=w.info))


class RemoteCase(Case):
    def __init__(self, proxy: WorkerProxy, d: dict):
        super().__init__(d['model'], d['runtime'], d['threads'], None, d['info'])
        self.proxy = proxy

    def run(self, n: int) -> List[dict]:
        return self.proxy.call('run', key=self.key, n=n)


# ----------------------------------------------------------------------------- ORT profiling
def ort_profile(path: str, threads: int, iters: int, prefix: str) -> dict:
    """Run ``iters`` ORT iterations with profiling; aggregate node time by op type and by
    the first component of the node name (backbone / neck / head ...)."""
    sess = make_ort_session(path, threads, profile_prefix=prefix)
    feed = sess.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    x = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    for _ in range(iters):
        sess.run(None, {feed: x})
    prof = sess.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    by_op, by_part, total = {}, {}, 0.0
    for e in events:
        if e.get('cat') != 'Node' or not e.get('name', '').endswith('_kernel_time'):
            continue
        dur = e['dur'] / 1000.0 / iters  # ms per iteration
        op = e.get('args', {}).get('op_name', '?')
        name = e['name'][:-len('_kernel_time')].lstrip('/')
        comps = [c for c in name.split('/') if c]
        if comps and comps[0] == 'model' and len(comps) > 2:
            comps = comps[1:]  # ER-Pose export wrapper: /model/backbone/...
        if len(comps) > 1:
            # ER-Pose / RTMO: backbone, neck, head/<branch>; Ultralytics: model.<layer>
            part = comps[0] + ('/' + comps[1] if comps[0] == 'head' else '')
        else:
            part = 'other (' + op + ')'
        by_op[op] = by_op.get(op, 0.0) + dur
        by_part[part] = by_part.get(part, 0.0) + dur
        total += dur
    top = lambda d: dict(sorted(d.items(), key=lambda kv: -kv[1])[:12])  # noqa: E731
    return dict(total_ms=total, by_op=top(by_op), by_part=top(by_part), file=prof)


def onnx_gflops(path: str) -> dict:
    """Load-independent cost: 2 x MACs of every Conv / Gemm / MatMul of an ONNX graph
    (shapes taken from one ORT run with all their outputs exposed), total and per top-level
    part of the node names (ER-Pose / RTMO: backbone, neck, head branches; Ultralytics:
    model.<layer>, the head being the last layer)."""
    import onnx
    import onnxruntime as ort
    m = onnx.load(path)
    g = m.graph
    inits = {i.name: list(i.dims) for i in g.initializer}
    nodes = [n for n in g.node if n.op_type in ('Conv', 'Gemm', 'MatMul')]
    have = {o.name for o in g.output}
    for n in nodes:
        for name in (n.output[0], n.input[1]):
            if name not in have and name not in inits:
                g.output.append(onnx.helper.make_empty_tensor_value_info(name))
                have.add(name)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=['CPUExecutionProvider'])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).uniform(
        0, 1, [d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
    parts, total = {}, 0.0
    for n in nodes:
        out = outs[n.output[0]].shape
        w = inits.get(n.input[1])
        if w is None and n.input[1] in outs:
            w = list(outs[n.input[1]].shape)
        if not w or len(w) < 2:
            continue
        if n.op_type == 'Conv':
            macs = np.prod(out) * np.prod(w[1:])
        elif n.op_type == 'Gemm':
            trans_b = any(a.name == 'transB' and a.i for a in n.attribute)
            macs = np.prod(out) * w[1 if trans_b else 0]
        else:
            macs = np.prod(out) * w[-2]
        comps = [c for c in n.name.split('/') if c]
        if comps and comps[0] == 'model' and len(comps) > 2:
            comps = comps[1:]
        part = comps[0] if len(comps) > 1 else 'other'
        parts[part] = parts.get(part, 0.0) + 2e-9 * float(macs)
        total += 2e-9 * float(macs)
    return dict(total=total, parts=dict(sorted(parts.items(), key=lambda kv: -kv[1])))


# ----------------------------------------------------------------------------- ER-Pose / RTMO (main side)
def _mm_env():
    import logging
    import erpose_mm  # noqa: F401  (registers modules, torchvision stub, adapters)
    from mmengine.logging import MMLogger
    from mmpose.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights / deploy chatter


def build_mm_model(cfg, deploy: bool = True, checkpoint: Optional[str] = None):
    """Seeded random init (or ``checkpoint``), eval mode; ``deploy`` -> switch_to_deploy
    and Conv-BN folding (as Ultralytics' fused eager models)."""
    import torch
    from mmpose.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if hasattr(model, 'init_weights'):
        import logging
        from mmengine.logging import MMLogger
        for inst in list(MMLogger._instance_dict.values()):
            inst.setLevel(logging.WARNING)  # one INFO line per parameter otherwise
        model.init_weights()
    if checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    if deploy:
        model.switch_to_deploy()  # ER-Pose: drop MAH, fuse head BN; RTMO: reparam + dcc
        try:
            from erpose_mm.models.layers import fuse_conv_bn
            fuse_conv_bn(model)  # ER-Pose backbone / neck ConvBNAct (a no-op for RTMO)
        except ImportError:
            pass
    return model, n_params


def erpose_cfg(scale: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py'))


def rtmo_cfg():
    import mmpose
    from mmengine.config import Config
    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint', 'rtmo',
                    'coco', 'rtmo-s_8xb32-600e_coco-640x640.py')
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None  # points at a download URL (stack.md)
    # its 480..800 random-resize batch augment is training only
    cfg.model.data_preprocessor.pop('batch_augments', None)
    return cfg


def export_erpose(scale: str, work_dir: str, score_thr: float):
    """Random-weight ER-Pose checkpoint -> ONNX with the project's exporter
    (``erpose_mm.deploy.export.export_onnx``). ``make_random_checkpoint`` gives
    non-degenerate random outputs (varied scores / keypoints); model time does not depend
    on the weights."""
    from erpose_mm.deploy import export as ex
    cfg_path = osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py')
    ckpt = osp.join(work_dir, f'erpose-{scale}_random.pth')
    out = osp.join(work_dir, f'erpose-{scale}.onnx')
    if hasattr(ex, 'make_random_checkpoint'):
        ex.make_random_checkpoint(cfg_path, ckpt, seed=0)
    else:
        import torch
        model, _ = build_mm_model(erpose_cfg(scale), deploy=False)
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    ex.export_onnx(cfg_path, ckpt, out, input_size=(INPUT, INPUT), dynamic=False,
                   score_thr=score_thr, max_per_img=100)
    return out, ckpt


def export_rtmo(work_dir: str, image: str):
    """RTMO-s -> ONNX with MMDeploy's torch2onnx (its RTMOHead rewriter puts the NMS in
    the graph). torch >= 2.9 defaults to the dynamo exporter, which MMDeploy 1.3.1 is not
    written for: force ``dynamo=False`` around its call."""
    import functools
    import torch
    from mmdeploy.apis import torch2onnx
    from mmengine.config import Config
    out = osp.join(work_dir, 'rtmo-s.onnx')
    ckpt = osp.join(work_dir, 'rtmo-s_random.pth')
    model, _ = build_mm_model(rtmo_cfg(), deploy=False)  # seeded, the config's Kaiming init
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    deploy_cfg = Config(dict(
        onnx_config=dict(type='onnx', export_params=True, keep_initializers_as_inputs=False,
                         opset_version=11, save_file='rtmo-s.onnx', input_names=['input'],
                         output_names=['dets', 'keypoints'], input_shape=(INPUT, INPUT),
                         optimize=True),
        codebase_config=dict(type='mmpose', task='PoseDetection',
                             post_processing=dict(score_threshold=0.05, iou_threshold=0.5,
                                                  max_output_boxes_per_class=200,
                                                  pre_top_k=5000, keep_top_k=100,
                                                  background_label_id=-1)),
        backend_config=dict(type='onnxruntime')))
    orig = torch.onnx.export
    if 'dynamo' in orig.__code__.co_varnames:
        @functools.wraps(orig)
        def export(*a, **k):
            k.setdefault('dynamo', False)
            return orig(*a, **k)
        torch.onnx.export = export
    try:
        torch2onnx(image, work_dir, 'rtmo-s.onnx', deploy_cfg, rtmo_cfg(), ckpt, 'cpu')
    finally:
        torch.onnx.export = orig
    return out, ckpt


def letterbox_mm(img: np.ndarray, size: int = INPUT, pad: int = 114):
    """Keep aspect ratio, resize the long side to ``size``, pad bottom/right with ``pad``
    (MMDeploy / RTMO ONNX preprocessing; the graph expects BGR float 0..255)."""
    import cv2
    h, w = img.shape[:2]
    r = size / max(h, w)
    nh, nw = int(round(h * r)), int(round(w * r))
    canvas = np.full((size, size, 3), pad, np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, r


def rtmo_ort_case(path: str, threads: int, img0: np.ndarray, score_thr: float, info: dict) -> Case:
    sess = make_ort_session(path, threads)

    def pre():
        im, r = letterbox_mm(img0)
        x = np.ascontiguousarray(im.transpose(2, 0, 1))[None].astype(np.float32)
        return x, r

    def post(outs, r):
        dets, kpts = outs[0][0], outs[1][0]
        keep = dets[:, 4] > score_thr
        boxes = dets[keep, :4] / r
        k = kpts[keep].copy()
        k[..., :2] /= r
        return int(dets.shape[0]), int(keep.sum())

    return Case('rtmo-s', 'ort', threads, ort_stage_step(pre, sess, 'input', post), info)


def erpose_ort_case(name: str, path: str, threads: int, img0: np.ndarray, score_thr: float,
                    info: dict) -> Case:
    """ER-Pose ONNX with the project's runner (``erpose_mm/deploy/onnx_runner.py``,
    numpy + cv2) for pre / post. The session itself is created with the same options as
    every other model's (``make_ort_session``)."""
    runner = _erpose_runner_module().ERPoseONNX(path, score_thr=score_thr, num_threads=threads)
    sess = make_ort_session(path, threads)
    feed = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    i_dets, i_kpts = names.index('dets'), names.index('keypoints')

    def pre():
        return runner.preprocess(img0)

    def post(outs, meta):
        dets = outs[i_dets][0]
        people = runner.postprocess(dets, outs[i_kpts][0], meta)
        return int((dets[:, 4] > 0).sum()), len(people)

    return Case(name, 'ort', threads, ort_stage_step(pre, sess, feed, post), info)


def _erpose_runner_module():
    """``erpose_mm/deploy/onnx_runner.py`` (torch-free; loaded as a module of the package)."""
    from erpose_mm.deploy import onnx_runner
    return onnx_runner


def mm_eager_case(name: str, model, cfg, threads: int, img0: np.ndarray, replay_attr: str,
                  info: dict) -> Case:
    """PyTorch eager through MMPose's own inference path: val pipeline (BottomupResize,
    PackPoseInputs) + data preprocessor -> backbone/neck/head forward -> head.predict's
    decode (ER-Pose top-k, RTMO NMS) + rescale to the image (add_pred_to_datasample).
    The head's raw outputs are replayed into ``head.predict`` so the decode is timed apart
    from the forward without re-running the network."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    pipeline = Compose([t for t in cfg.val_pipeline if t['type'] != 'LoadImage'])
    head = model.head
    test_cfg = dict(model.test_cfg)
    test_cfg.setdefault('score_thr', info.get('score_thr', 0.25))

    def step():
        with torch.inference_mode():
            c0, t0 = time.thread_time(), time.perf_counter()
            data = pipeline(dict(img=img0.copy(), img_shape=img0.shape[:2],
                                 ori_shape=img0.shape[:2]))
            batch = model.data_preprocessor(pseudo_collate([data]), False)
            inputs, samples = batch['inputs'], batch['data_samples']
            c1, t1 = time.thread_time(), time.perf_counter()
            feats = model.extract_feat(inputs)
            raw = head.forward(feats)
            c2, t2 = time.thread_time(), time.perf_counter()
            head.__dict__[replay_attr] = lambda *a, **k: raw
            try:
                preds = head.predict(feats, samples, test_cfg=test_cfg)
            finally:
                del head.__dict__[replay_attr]
            if isinstance(preds, tuple):
                preds = preds[0]
            res = model.add_pred_to_datasample(preds, None, samples)
            c3, t3 = time.thread_time(), time.perf_counter()
        n_out = len(res[0].pred_instances)
        return dict(pre=t1 - t0, model=t2 - t1, post=t3 - t2, e2e=t3 - t0, n_cand=None,
                    n_out=int(n_out), model_cpu=c2 - c1, e2e_cpu=c3 - c0)

    return Case(name, 'torch', threads, step, info)


# ----------------------------------------------------------------------------- ER-Pose decode sweep
def erpose_decode_sweep(counts, iters: int, threads: int, score_thr: float) -> dict:
    """ER-Pose decode with N confident cells: ``head.export_predict`` after the network
    (decode + batched top-k + packing: exactly what the exported graph does after the
    network; timed in torch eager with the branch outputs replayed) and the runner's postprocess on
    graph outputs with N rows above the threshold (numpy)."""
    import torch
    set_threads(threads)
    res = {}
    rng = np.random.default_rng(0)
    for scale in ('n', 's'):
        model, _ = build_mm_model(erpose_cfg(scale), deploy=True)
        head = model.head
        strides = head.featmap_strides
        K = head.num_keypoints
        sizes = [(INPUT // s, INPUT // s) for s in strides]
        ncell = sum(h * w for h, w in sizes)
        ts_all = []
        for n in counts:
            conf_flat = np.full(ncell, -8.0, np.float32)
            conf_flat[rng.choice(ncell, min(n, ncell), replace=False)] = 4.0
            confs, kpts, off = [], [], 0
            for h, w in sizes:
                confs.append(torch.from_numpy(conf_flat[off:off + h * w].reshape(1, 1, h, w)))
                kpts.append(torch.randn(1, 3 * K, h, w))
                off += h * w
            raw = (confs, kpts, None)
            feats = [None] * len(strides)
            ts = []
            head.__dict__['one2one'] = lambda *a, **k: raw  # replay the branch outputs
            try:
                with torch.inference_mode():
                    for i in range(iters + 5):
                        t0 = time.thread_time()
                        if hasattr(head, 'export_predict'):
                            head.export_predict(feats, score_thr=score_thr, max_per_img=100)
                        else:
                            head.select_topk(head.decode(*raw), score_thr=score_thr,
                                             max_per_img=100)
                        if i >= 5:
                            ts.append(time.thread_time() - t0)
            finally:
                del head.__dict__['one2one']
            ts_all.append(med(ts))
        res[f'erpose-{scale} decode+top-k (torch)'] = ts_all
    # runner postprocess on synthetic graph outputs (N rows above the threshold of 100)
    try:
        mod = _erpose_runner_module()
        runner = mod.ERPoseONNX.__new__(mod.ERPoseONNX)  # postprocess needs no session
        runner.score_thr = score_thr
        info = dict(center=np.array([480., 270.], np.float32),
                    scale=np.array([960., 960.], np.float32),
                    input_size=np.array([640., 640.], np.float32), ori_shape=(540, 960))
        ts_all = []
        for n in counts:
            m = min(n, 100)
            dets = np.zeros((100, 5), np.float32)
            dets[:, :4] = rng.uniform(0, 640, (100, 4))
            dets[:m, 4] = rng.uniform(0.3, 0.99, m)
            kp = rng.uniform(0, 640, (100, 17, 3)).astype(np.float32)
            ts = []
            for i in range(iters + 5):
                t0 = time.thread_time()
                runner.postprocess(dets, kp, info)
                if i >= 5:
                    ts.append(time.thread_time() - t0)
            ts_all.append(med(ts))
        res['erpose runner postprocess (numpy, <=100 rows)'] = ts_all
    except Exception as e:  # the runner is optional for the sweep
        log(f'[sweep] runner postprocess not timed: {e!r}')
    return res


# ----------------------------------------------------------------------------- reporting
def summarize(results: Dict[str, List[dict]], meta: Dict[str, dict]) -> List[dict]:
    rows = []
    for key, rs in results.items():
        m = meta[key]
        row = dict(model=m['model'], runtime=m['runtime'], threads=m['threads'], n=len(rs))
        for k in ('pre', 'model', 'post', 'e2e'):
            row[k + '_ms'] = 1000 * med([r[k] for r in rs])
        e2e = sorted(1000 * r['e2e'] for r in rs)
        row['e2e_p90'] = e2e[min(len(e2e) - 1, int(0.9 * len(e2e)))] if e2e else float('nan')
        row['e2e_min'] = e2e[0] if e2e else float('nan')
        row['model_min'] = 1000 * min(r['model'] for r in rs) if rs else float('nan')
        # CPU time of the calling thread: with 1 thread all the work runs there, and
        # unlike wall time it does not count waiting for a core on a loaded machine
        for k in ('model_cpu', 'e2e_cpu'):
            row[k + '_ms'] = (1000 * med([r.get(k) for r in rs]) if m['threads'] == 1
                              else float('nan'))
        row['n_cand'] = med([r.get('n_cand') for r in rs])
        row['n_out'] = med([r.get('n_out') for r in rs])
        row['load'] = med([r.get('load') for r in rs])
        row.update({k: v for k, v in m.get('info', {}).items()
                    if k in ('params', 'params_deploy', 'in_graph', 'post', 'gflops')})
        rows.append(row)
    order = ['erpose-n', 'erpose-s', 'yolov8n-pose', 'yolov8n-pose+nms-graph', 'yolo26n-pose',
             'rtmo-s']
    rows.sort(key=lambda r: (r['runtime'] != 'ort', r['threads'],
                             order.index(r['model']) if r['model'] in order else 99))
    return rows


def fmt(x, nd=1):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return '-'
    return f'{x:.{nd}f}'


def targets(rows) -> List[str]:
    def get(model, rt='ort', t=1, k='e2e_ms'):
        for r in rows:
            if r['model'] == model and r['runtime'] == rt and r['threads'] == t:
                return r[k]
        return None
    lines = []
    er, v8, y26 = (get(m, k='e2e_cpu_ms') for m in ('erpose-n', 'yolov8n-pose', 'yolo26n-pose'))
    if er and v8 and y26 and not any(np.isnan(x) for x in (er, v8, y26)):
        lines.append(f'- ORT 1 thread, CPU time (load-robust): ER-Pose-n e2e / YOLOv8n-pose = '
                     f'{er / v8:.2f} (target <= {TARGET_VS_V8}: '
                     f'{"MET" if er <= TARGET_VS_V8 * v8 else "MISSED"}), / YOLO26n-pose = '
                     f'{er / y26:.2f} (target <= {TARGET_VS_26}: '
                     f'{"MET" if er <= TARGET_VS_26 * y26 else "MISSED"})')
    for t in sorted({r['threads'] for r in rows}):
        er = get('erpose-n', t=t)
        v8, y26 = get('yolov8n-pose', t=t), get('yolo26n-pose', t=t)
        if er is None:
            continue
        if v8:
            ok = er <= TARGET_VS_V8 * v8
            lines.append(f'- ORT {t} thread(s), wall median: ER-Pose-n e2e / YOLOv8n-pose e2e = {er / v8:.2f} '
                         f'(target <= {TARGET_VS_V8}) -> {"MET" if ok else "MISSED"}')
        if y26:
            ok = er <= TARGET_VS_26 * y26
            lines.append(f'- ORT {t} thread(s), wall median: ER-Pose-n e2e / YOLO26n-pose e2e = {er / y26:.2f} '
                         f'(target <= {TARGET_VS_26}) -> {"MET" if ok else "MISSED"}')
    for name, ref in REF_MODEL_MS.items():
        m, mc = get(name, k='model_ms'), get(name, k='model_cpu_ms')
        if m:
            lines.append(f'- {name} model-only at 1 thread here: {m:.1f} ms wall, {fmt(mc)} ms CPU '
                         f'(reference measured earlier on this machine: ~{ref:.0f} ms; wall ratio '
                         f'{m / ref:.2f} ~ how loaded this run was)')
    return lines


def markdown(rows, sweep, env, args, prof=None, flops=None) -> str:
    L = ['# CPU latency: ER-Pose vs YOLOv8n-pose, YOLO26n-pose, RTMO-s', '',
         f'Written by `benchmarks/latency.py{(" " + " ".join(sys.argv[1:])) if sys.argv[1:] else ""}` on '
         f'{env["date"]}. Machine: {env["cpu"]}, {env["ncpu"]} logical CPUs; load average '
         f'before / after: {env["load_before"]} / {env["load_after"]}. '
         f'Image: `{osp.basename(args.image)}` {env["image_shape"]}, letterboxed to 640x640, batch 1. '
         f'Iterations per case: {env["iters"]} (after {args.warmup} warm-up), interleaved in '
         f'{args.rounds} rounds; values are medians in ms.', '',
         'Versions: ' + ', '.join(f'{k} {v}' for k, v in env['versions'].items()), '',
         '`model` = the network (for ORT: `session.run` of the exported graph, which already '
         'contains ER-Pose\'s and YOLO26\'s top-k decode and RTMO\'s NMS); `post` = the rest to '
         'final poses in image pixels (YOLOv8: NMS); `e2e` = pre + model + post timed as one '
         'interval. `model CPU` / `e2e CPU` (1-thread rows only) = CPU time of the calling '
         'thread, where all the work runs at 1 thread: unlike wall time it does not count '
         'waiting for a core, so it is the number to trust on a loaded machine. '
         '`cand` = candidates above the score threshold entering NMS / filtering, '
         '`out` = poses returned. All weights are random (seeded), so `cand` is not what a '
         'trained model sees -- the sweep below covers 1..300 people.', '',
         '| model | params (M) | GFLOPs | runtime | thr | pre | model | post | **e2e** | e2e p90 | '
         'e2e min | model CPU | e2e CPU | cand | out | load |',
         '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        params = r.get('params_deploy') or r.get('params')
        L.append(f'| {r["model"]} | {fmt(params / 1e6, 2) if params else "-"} | '
                 f'{fmt(r.get("gflops"), 2)} | '
                 f'{r["runtime"]} | {r["threads"]} | {fmt(r["pre_ms"])} | {fmt(r["model_ms"])} | '
                 f'{fmt(r["post_ms"], 2)} | **{fmt(r["e2e_ms"])}** | {fmt(r["e2e_p90"])} | '
                 f'{fmt(r["e2e_min"])} | {fmt(r["model_cpu_ms"])} | {fmt(r["e2e_cpu_ms"])} | '
                 f'{fmt(r["n_cand"], 0)} | {fmt(r["n_out"], 0)} | {fmt(r["load"], 1)} |')
    L += ['', '## Targets (issue #4)', ''] + targets(rows)
    if flops:
        L += ['', '## Where the model FLOPs are (load-independent)', '',
              '2 x MACs of Conv / Gemm / MatMul in each exported graph, GFLOPs. Ultralytics '
              'layers are `model.<i>`; the last one is the pose head.', '']
        for m, f in flops.items():
            L.append(f'- **{m}** {f["total"]:.2f}: ' + ', '.join(
                f'{k} {v:.2f}' for k, v in list(f['parts'].items())[:6]))
    if sweep:
        L += ['', '## Decode / NMS time vs. number of confident candidates', '',
              'Synthetic raw outputs with N candidates above the threshold (random boxes and '
              'keypoints), 1 thread, median thread CPU time in ms. ER-Pose: `ERPoseHead.export_predict` after the '
              'network (decode + top-k + packing: the operations its exported graph runs after '
              'the network, here in torch eager) and the runner\'s numpy postprocess of the graph '
              'outputs. YOLOv8: Ultralytics `non_max_suppression` (torchvision NMS) + '
              'rescale. YOLO26: its end-to-end top-k filter + rescale.', '',
              '| N | ' + ' | '.join(sweep['series'].keys()) + ' |',
              '|---|' + '---|' * len(sweep['series'])]
        for i, n in enumerate(sweep['counts']):
            L.append(f'| {n} | ' + ' | '.join(fmt(1000 * v[i], 3) for v in sweep['series'].values())
                     + ' |')
        L += ['', 'Growth from the smallest to the largest N: ' + '; '.join(
            f'{k}: x{v[-1] / v[0]:.2f}' for k, v in sweep['series'].items() if v and v[0]), '']
    if prof:
        L += ['', '## ORT profile (1 thread, ms per run, kernel time)', '']
        for name, p in prof.items():
            L.append(f'**{name}** total {p["total_ms"]:.1f} ms. By op: ' + ', '.join(
                f'{k} {v:.1f}' for k, v in p['by_op'].items()) + '. By graph part: ' + ', '.join(
                f'{k} {v:.1f}' for k, v in p['by_part'].items()) + '.')
            L.append('')
    L += ['', 'Plots: `latency_cpu.png`, `decode_vs_people.png`. Raw numbers: `latency_cpu.json`.',
          'Re-run on a quiet machine for final numbers: `.venv/bin/python benchmarks/latency.py`.']
    return '\n'.join(L) + '\n'


def plots(rows, sweep, out_dir, suffix: str = '') -> List[str]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    files = []
    ort_rows = [r for r in rows if r['runtime'] == 'ort']
    threads = sorted({r['threads'] for r in ort_rows})
    if ort_rows:
        fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 4), squeeze=False)
        for ax, t in zip(axes[0], threads):
            rs = [r for r in ort_rows if r['threads'] == t]
            names = [r['model'] for r in rs]
            x = np.arange(len(rs))
            bottom = np.zeros(len(rs))
            for k, c in (('pre', '#9ecae1'), ('model', '#3182bd'), ('post', '#e6550d')):
                v = np.array([r[k + '_ms'] for r in rs])
                ax.bar(x, v, bottom=bottom, color=c, label=k)
                bottom += v
            ax.set_xticks(x, names, rotation=25, ha='right', fontsize=8)
            ax.set_ylabel('ms (median)')
            ax.set_title(f'ONNX Runtime CPU, {t} thread(s), 640x640, batch 1')
            ax.legend()
        fig.tight_layout()
        f = osp.join(out_dir, f'latency_cpu{suffix}.png')
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    if sweep:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for k, v in sweep['series'].items():
            ax.plot(sweep['counts'], 1000 * np.asarray(v), marker='o', label=k)
        ax.set_xlabel('confident candidates N')
        ax.set_ylabel('ms (median, 1 thread)')
        ax.set_yscale('log')
        ax.set_title('Decode / NMS time vs. number of candidates')
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        f = osp.join(out_dir, f'decode_vs_people{suffix}.png')
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    return files


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
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
    p.add_argument('--no-sweep', action='store_true', help='skip the decode/NMS sweep')
    p.add_argument('--profile', action='store_true',
                   help='ORT per-op / per-part profile of every model (1 thread)')
    p.add_argument('--image', default=DEFAULT_IMAGE)
    p.add_argument('--score-thr', type=float, default=0.25,
                   help='ER-Pose export/runner threshold (Ultralytics predict default: 0.25)')
    p.add_argument('--bench-python', default=os.environ.get('BENCH_PYTHON', DEFAULT_BENCH_PY),
                   help='python of the peers venv (benchmarks/setup_peers_env.sh)')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'bench_latency'))
    p.add_argument('--out-dir', default=osp.join(ROOT, 'docs'))
    p.add_argument('--suffix', default='',
                   help='appended to the output file names, e.g. _1thread')
    p.add_argument('--no-write', action='store_true', help='print only, write nothing to docs/')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.iters = a.iters or (4 if q else 40)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 5)
    a.rounds = a.rounds or max(1, a.iters // 4)
    a.sweep_iters = 5 if q else 30
    return a


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
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
    env = dict(date=time.strftime('%Y-%m-%d %H:%M'), cpu=platform.processor() or platform.machine(),
               ncpu=os.cpu_count(), load_before=f'{loadavg():.2f}', image_shape=list(img0.shape),
               iters=args.iters)
    try:
        with open('/proc/cpuinfo') as f:
            env['cpu'] = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except Exception:
        pass
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
            proxy = WorkerProxy(args.bench_python, osp.abspath(__file__), 'peers',
                                osp.join(args.work_dir, 'peers_worker.log'))
            descr = proxy.call('setup', threads=threads, image=args.image,
                               work_dir=osp.join(args.work_dir, 'peers'), eager=not args.no_eager,
                               models=peer_models, conf=args.score_thr)
            cases += [RemoteCase(proxy, d) for d in descr]
            for m in peer_models:
                onnx_files[m] = osp.join(args.work_dir, 'peers', f'{m}.onnx')
            versions.update({f'peers {k}': v for k, v in proxy.call('info').items()})

    # --- ER-Pose / RTMO in this process
    _mm_env()
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
            for t in threads:
                cases.append(erpose_ort_case(m, path, t, img0, args.score_thr, info))
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
