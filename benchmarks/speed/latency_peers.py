"""Peers-venv side of ``benchmarks/latency.py`` (``--worker peers``): builds and exports the
Ultralytics models (YOLOv8n-pose, YOLO26n-pose), times them, and runs their NMS / top-k
sweep. No project (``erpose_mm``) imports: this runs in ``.bench_venv``."""
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from benchmarks.common.rpc import serve
from benchmarks.common.stats import med
from benchmarks.speed.latency_core import (INPUT, Case, make_ort_session, make_session,
                                           ort_profile, ort_stage_step, quantized_variants,
                                           set_threads, stage_step)


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
              models: List[str], conf: float = 0.25, iou: float = 0.7,
              runtimes: Sequence[str] = ('ort', ), calib: Optional[str] = None,
              num_calib: int = 64) -> List[dict]:
        """Build and export every model in ``models``; make its ONNX cases (``runtimes``:
        ORT fp32 / INT8, OpenVINO fp32 / INT8 of the raw-head export, the DFL convolution
        left float; INT8 calibrated on the images of ``calib``) and eager cases for each
        thread count. Returns the cases' descriptions for the main process."""
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
            variants = quantized_variants(exports[''], runtimes, calib or osp.dirname(image),
                                          num_calib, keep_float=('/dfl/', ))
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
                for rt, path in variants.items():
                    c = Case(name, rt, t, ort_stage_step(pre_np, make_session(path, t, rt),
                                                         'images', make_post(end2end)), info)
                    self.cases[c.key] = c
                for suffix, path in exports.items():
                    if 'ort' not in runtimes:
                        break
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
        return stage_step(pre, net, post, context=torch.inference_mode)

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
        """ORT profile of the exported ``name`` (see ``ort_profile``)."""
        path = osp.join(work_dir, f'{name}.onnx')
        return ort_profile(path, threads, iters, osp.join(work_dir, f'prof_{name}'))

    def info(self) -> dict:
        """Versions in the peers venv."""
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
