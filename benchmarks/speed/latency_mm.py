"""Main-process side of ``benchmarks/latency.py``: ER-Pose and RTMO-s (MMPose) built,
exported (project exporter / MMDeploy) and wrapped into timed ORT and eager cases, and the
ER-Pose decode sweep."""
import os.path as osp
import time
from typing import Optional

import numpy as np

from benchmarks.common.machine import log
from benchmarks.common.stats import med
from benchmarks.speed.latency_core import (INPUT, Case, make_ort_session, make_session,
                                           ort_stage_step, set_threads)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def mm_env() -> None:
    """Register the project and MMPose modules, apply the stack adapters; quiet MMEngine's INFO
    logging."""
    import logging
    import erpose_mm  # noqa: F401  (registers the ER-Pose modules)
    from erpose_mm.compat import apply_stack_adapters
    from mmengine.logging import MMLogger
    from mmpose.utils import register_all_modules
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (``build_mm_model``)
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
    """The project config ``configs/erpose/erpose-{scale}_coco-640.py``."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py'))


def rtmo_cfg():
    """MMPose's RTMO-s COCO config, without its pretrained-backbone download and
    training-only batch augment."""
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
    (``erpose_mm.deploy.export.export_onnx``). ``erpose_mm.testing.make_random_checkpoint`` gives
    non-degenerate random outputs (varied scores / keypoints); model time does not depend
    on the weights."""
    from erpose_mm.deploy import export as ex
    cfg_path = osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py')
    ckpt = osp.join(work_dir, f'erpose-{scale}_random.pth')
    out = osp.join(work_dir, f'erpose-{scale}.onnx')
    try:
        from erpose_mm.testing import make_random_checkpoint
    except ImportError:
        make_random_checkpoint = getattr(ex, 'make_random_checkpoint', None)
    if make_random_checkpoint is not None:
        make_random_checkpoint(cfg_path, ckpt, seed=0)
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
    """RTMO-s ONNX (NMS in the graph): letterbox pre, threshold + rescale post."""
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
                    info: dict, runtime: str = 'ort', model_file: Optional[str] = None) -> Case:
    """ER-Pose ONNX with the project's runner (:mod:`erpose_mm.runtime`,
    numpy + cv2) for pre / post (its metadata from the fp32 ``path``). The session itself
    is created with the same options as every other model's (``make_session`` of
    ``runtime``: ORT or OpenVINO) on ``model_file`` (default ``path``: an INT8 ``.onnx`` or
    an OpenVINO ``.xml`` otherwise)."""
    runner = _erpose_runner_module().ERPoseONNX(path, score_thr=score_thr, num_threads=threads)
    sess = make_session(model_file or path, threads, runtime)
    feed = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    i_dets, i_kpts = names.index('dets'), names.index('keypoints')

    def pre():
        return runner.preprocess(img0)

    def post(outs, meta):
        dets = outs[i_dets][0]
        people = runner.postprocess(dets, outs[i_kpts][0], meta)
        return int((dets[:, 4] > 0).sum()), len(people)

    return Case(name, runtime, threads, ort_stage_step(pre, sess, feed, post), info)


def _erpose_runner_module():
    """:mod:`erpose_mm.runtime` (torch-free: the ONNX runner)."""
    from erpose_mm import runtime
    return runtime


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
