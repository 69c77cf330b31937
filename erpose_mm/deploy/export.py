"""Plain ``torch.onnx`` export of ER-Pose (no MMDeploy needed) and shared export helpers.

The exported graph takes the *preprocessed* image -- exactly what MMPose's
``PoseDataPreprocessor`` produces: float32 NCHW, RGB, ``(img - mean) / std`` (for the
ER-Pose configs: ``img / 255``), letterboxed by ``BottomupResize`` -- and returns

* ``dets`` (B, N, 5): x1, y1, x2, y2, score (N = ``max_per_img``);
* ``keypoints`` (B, N, K, 3): x, y, keypoint score;

in network-input pixels, sorted by score; rows with ``score <= score_thr`` are padding
with score 0 (see :meth:`ERPoseHead.export_predict`). The graph is backbone -> neck ->
SAH branch -> decode -> top-k: no one-to-many head, no NMS. With ``dedupe_thr`` the graph
also holds the parallel OKS dedupe over the top-k (:mod:`erpose_mm.structures.dedupe`,
fixed shapes, no NMS / Loop node); its duplicates are padding rows too.

The file carries the preprocessing and skeleton it was exported with as ONNX metadata
(key ``erpose``, JSON) so that :mod:`erpose_mm.runtime.onnx_runner` needs nothing else.
"""
import copy
import json
import os
import os.path as osp
import sys
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ..compat import ONNX_EXPORT_KWARGS, apply_stack_adapters
from ..structures import (DEFAULT_MAX_PER_IMG, DEFAULT_SCORE_THR, check_dedupe_thr,
                          decode_settings, dedupe_setting)

META_KEY = 'erpose'
INPUT_NAMES = ['input']
OUTPUT_NAMES = ['dets', 'keypoints']


def load_config(config):
    """A config path or ``mmengine.Config`` -> ``mmengine.Config`` (imports erpose_mm)."""
    import erpose_mm  # noqa: F401  (registers the modules even for a Config object)
    from mmengine.config import Config
    if isinstance(config, (str, os.PathLike)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'model config not found: {config}')
        return Config.fromfile(str(config))
    return copy.deepcopy(config)


def build_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
                deploy: bool = True) -> nn.Module:
    """Build the ``BottomupPoseEstimator`` of ``config``, load ``checkpoint``, eval mode.

    ``deploy=True`` calls ``model.switch_to_deploy()`` (strips the one-to-many head, fuses
    BN in the head): the model that is exported and that parity is measured against.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpose.registry import MODELS
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('pretrained', None)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (weights_only)
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.cfg = cfg
    model.eval()
    if deploy and callable(getattr(model, 'switch_to_deploy', None)):
        model.switch_to_deploy()
    return model.to(device)


class ERPoseExportModule(nn.Module):
    """``preprocessed image -> (dets, keypoints)``; the graph that is exported."""

    def __init__(self, model: nn.Module, score_thr: float = DEFAULT_SCORE_THR,
                 max_per_img: int = DEFAULT_MAX_PER_IMG, dedupe_thr: Optional[float] = None):
        super().__init__()
        self.model = model
        self.score_thr = float(score_thr)
        self.max_per_img = int(max_per_img)
        self.dedupe_thr = check_dedupe_thr(dedupe_thr)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.extract_feat(inputs)
        return self.model.head.export_predict(feats, self.score_thr, self.max_per_img,
                                              dedupe_thr=self.dedupe_thr)


def _find_transform(pipeline, type_name):
    for t in pipeline or []:
        if t.get('type') in (type_name, f'mmpose.{type_name}'):
            return t
    return None


def config_input_size(cfg) -> Tuple[int, int]:
    """(w, h) a model config tests at: the ``input_size`` of its test pipeline's
    ``BottomupResize``, else of its ``codec`` (the last one of a list), else (640, 640)."""
    for loader in ('test_dataloader', 'val_dataloader'):
        if loader in cfg:
            size = (_find_transform(cfg[loader].dataset.pipeline, 'BottomupResize')
                    or {}).get('input_size')
            if size is not None:
                return check_input_size(size, f'{loader} BottomupResize input_size')
            break
    codec = cfg.get('codec', None) or {}
    codec = codec[-1] if isinstance(codec, (list, tuple)) else codec
    if codec.get('input_size') is not None:
        return check_input_size(codec['input_size'], 'codec input_size')
    return (640, 640)


def check_input_size(size, what: str = 'input_size') -> Tuple[int, int]:
    """``size`` as (w, h) of positive integer multiples of 32; a one-line ValueError
    naming ``what`` otherwise (one value, zero, negative, not a multiple of 32)."""
    try:
        w, h = (int(v) for v in size)
        if (w, h) != tuple(float(v) for v in size):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f'{what} {size!r}: expected (w, h), two integers') from None
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise ValueError(f'{what} {size!r}: width and height must be positive multiples '
                         'of 32')
    return w, h


def runner_metadata(cfg, input_size: Sequence[int], score_thr: float, max_per_img: int,
                    dynamic: bool, dedupe_thr: Optional[float] = None) -> dict:
    """What :mod:`onnx_runner` needs to reproduce the MMPose test pipeline, the decode
    settings baked into the graph (``score_thr``, ``max_per_img``, ``dedupe_thr``: None when
    the graph has no dedupe) and the OKS ``sigmas`` (for the runner's numpy dedupe)."""
    from mmpose.apis.inference import dataset_meta_from_config
    dp = cfg.model.get('data_preprocessor', {}) or {}
    pipeline = None
    for loader in ('test_dataloader', 'val_dataloader'):
        if loader in cfg:
            pipeline = cfg[loader].dataset.pipeline
            break
    resize = _find_transform(pipeline, 'BottomupResize') or {}
    pad_val = resize.get('pad_val', (0, 0, 0))
    if isinstance(pad_val, (int, float)):
        pad_val = (pad_val, ) * 3
    meta = dataset_meta_from_config(cfg, dataset_mode='test') or \
        dataset_meta_from_config(cfg, dataset_mode='train') or {}

    def tolist(x):
        return [tolist(v) for v in x] if hasattr(x, '__len__') and not isinstance(x, str) \
            else (x.item() if hasattr(x, 'item') else x)

    num_kpts = int(cfg.model.head.get('num_keypoints', 17))
    names = meta.get('keypoint_id2name', {})
    # the head's OKS sigmas (its metainfo file, else 0.5 / K as ERPoseHead falls back to)
    sigmas = [0.5 / num_kpts] * num_kpts
    if cfg.model.head.get('metainfo'):
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        sigmas = parse_pose_metainfo(dict(from_file=cfg.model.head.metainfo))['sigmas']
    return dict(
        format=1,
        input_size=[int(input_size[0]), int(input_size[1])],  # (w, h)
        dynamic=bool(dynamic),
        mean=[float(v) for v in dp.get('mean', None) or (0., 0., 0.)],
        std=[float(v) for v in dp.get('std', None) or (1., 1., 1.)],
        bgr_to_rgb=bool(dp.get('bgr_to_rgb', False) or dp.get('rgb_to_bgr', False)),
        pad_size_divisor=int(dp.get('pad_size_divisor', 1)),
        resize=dict(type='BottomupResize', size_factor=int(resize.get('size_factor', 32)),
                    resize_mode=resize.get('resize_mode', 'fit'),
                    use_udp=bool(resize.get('use_udp', False)),
                    aug_scales=resize.get('aug_scales', None),
                    pad_val=[float(v) for v in pad_val]),
        score_thr=float(score_thr),
        max_per_img=int(max_per_img),
        dedupe_thr=None if dedupe_thr is None else float(dedupe_thr),
        sigmas=[float(v) for v in sigmas],
        num_keypoints=num_kpts,
        keypoint_names=[names.get(i, str(i)) for i in range(num_kpts)],
        skeleton_links=tolist(meta.get('skeleton_links', [])),
        skeleton_link_colors=tolist(meta.get('skeleton_link_colors', [])),
        keypoint_colors=tolist(meta.get('keypoint_colors', [])),
        dataset_name=meta.get('dataset_name', ''),
    )


def add_runner_metadata(onnx_file: str, meta: dict) -> None:
    """Store ``meta`` as JSON under the ONNX metadata key ``erpose`` (in place)."""
    import onnx
    model = onnx.load(onnx_file)
    props = [p for p in model.metadata_props if p.key != META_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    onnx.save(model, onnx_file)


def export_onnx(config, checkpoint: Optional[str], out_file: str,
                input_size: Optional[Tuple[int, int]] = None, dynamic: bool = False,
                score_thr: Optional[float] = None, max_per_img: Optional[int] = None,
                opset: int = 11, fp16: bool = False,
                dedupe_thr: Optional[float] = None) -> str:
    """Export ER-Pose to ONNX with plain ``torch.onnx`` (TorchScript exporter).

    Args:
        config: model config path or ``mmengine.Config``.
        checkpoint: checkpoint path (None: the config's initial weights).
        out_file: path of the ``.onnx`` file to write.
        input_size: (w, h) of the network input, positive multiples of 32. None: the
            size the config tests at (:func:`config_input_size`: its ``BottomupResize`` /
            codec ``input_size``, e.g. 640 for the COCO-640 configs, 256 for
            ``erpose-n_synthetic-256``). The graph and its metadata use this size.
        dynamic: dynamic batch, height and width (the traced size is only an example;
            any multiple of 32 works, e.g. a 640 export runs on 800x800).
        score_thr: rows with ``score <= score_thr`` get score 0 (padding). None: the
            config's ``model.test_cfg.score_thr`` (else 0.01), as the MMDeploy route reads it
            (:func:`erpose_mm.structures.decode_settings`).
        max_per_img: N, the fixed number of output rows per image. None: the config's
            ``model.test_cfg.max_per_img`` (else 100).
        opset: ONNX opset (11 = MMDeploy's default).
        dedupe_thr: bake the parallel OKS dedupe over the top-k into the graph with this
            threshold in (0, 1] (:mod:`erpose_mm.structures.dedupe`). None: the config's
            ``model.test_cfg.dedupe_thr`` (default None: no dedupe, a plain top-k).
        fp16: export float32, then convert the network to float16 for GPU runtimes
            (:func:`erpose_mm.deploy.fp16.convert_onnx_to_fp16`: the decode, the input
            and the outputs stay float32, so callers feed and read float32 as before).

    Returns:
        ``out_file``.
    """
    if input_size is not None:
        w, h = check_input_size(input_size, 'export_onnx: input_size')
    model = build_model(config, checkpoint, device='cpu', deploy=True)
    if input_size is None:
        w, h = config_input_size(model.cfg)
    cfg_thr, cfg_max = decode_settings(model.cfg.model.get('test_cfg'))
    score_thr = cfg_thr if score_thr is None else float(score_thr)
    max_per_img = cfg_max if max_per_img is None else int(max_per_img)
    if max_per_img < 1:
        raise ValueError(f'export_onnx: max_per_img must be >= 1, got {max_per_img}')
    if dedupe_thr is None:
        dedupe_thr = dedupe_setting(model.cfg.model.get('test_cfg'))
    dedupe_thr = check_dedupe_thr(dedupe_thr, 'export_onnx: dedupe_thr')
    wrapper = ERPoseExportModule(model, score_thr, max_per_img, dedupe_thr).eval()
    dummy = torch.rand(1, 3, h, w)
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
                        'dets': {0: 'batch'}, 'keypoints': {0: 'batch'}}
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(wrapper, (dummy, ), out_file, input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, opset_version=opset,
                          dynamic_axes=dynamic_axes, do_constant_folding=True,
                          **ONNX_EXPORT_KWARGS)
    add_runner_metadata(out_file, runner_metadata(model.cfg, (w, h), score_thr, max_per_img,
                                                  dynamic, dedupe_thr=dedupe_thr))
    import onnx
    onnx.checker.check_model(out_file)
    if fp16:
        from .fp16 import convert_onnx_to_fp16
        convert_onnx_to_fp16(out_file, out_file)
    return out_file


def parse_args(argv=None):
    import argparse
    parser = argparse.ArgumentParser(
        prog='python -m erpose_mm.deploy.export',
        description='Export ER-Pose to ONNX with plain torch.onnx (no MMDeploy): outputs '
        'dets (B,N,5) and keypoints (B,N,K,3), runner metadata included.')
    parser.add_argument('config', help='model config (configs/erpose/*.py)')
    parser.add_argument('checkpoint', help="checkpoint (.pth); 'none' for the config's "
                        'initial weights')
    parser.add_argument('out_file', help='.onnx file to write (refused if it exists)')
    parser.add_argument('--input-size', type=int, nargs='+', default=None,
                        help="W [H], multiples of 32 (default: the config's BottomupResize / "
                        'codec input_size)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width')
    parser.add_argument('--fp16', action='store_true',
                        help='float16 network, float32 decode / input / outputs '
                        '(for ONNX Runtime CUDA and TensorRT; runs on CPU too, slowly)')
    parser.add_argument('--score-thr', type=float, default=None,
                        help="padding floor (default: the config's test_cfg.score_thr, else 0.01)")
    parser.add_argument('--max-per-img', type=int, default=None,
                        help="rows per image (default: the config's test_cfg.max_per_img, else 100)")
    parser.add_argument('--dedupe-thr', type=float, default=None,
                        help='bake the parallel OKS dedupe over the top-k into the graph '
                        "with this threshold in (0, 1] (default: the config's "
                        'test_cfg.dedupe_thr, else none)')
    parser.add_argument('--opset', type=int, default=11)
    parser.add_argument('--int8', action='store_true',
                        help='write the INT8 model (ONNX Runtime static quantization of the fp32 '
                        'export, decode in float32: erpose_mm.deploy.quantize); needs --calib')
    parser.add_argument('--calib', default=None,
                        help='--int8 calibration images: a folder or a COCO json')
    parser.add_argument('--num-calib', type=int, default=64,
                        help='--int8 calibration images used (default 64)')
    return parser.parse_args(argv)


#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def _refuse(line: str) -> int:
    """Print ``line`` (one line, ``error: ...``) on stderr; returns :data:`REFUSAL_STATUS`."""
    print(line, file=sys.stderr)
    return REFUSAL_STATUS


def main(argv=None) -> int:
    """``python -m erpose_mm.deploy.export``: 0, or :data:`REFUSAL_STATUS` with one
    ``error: ...`` line on stderr."""
    args = parse_args(argv)
    size = args.input_size
    if size is not None and len(size) not in (1, 2):
        return _refuse(f'error: --input-size takes W or W H, got {size}')
    if size is not None:
        try:
            check_input_size((size[0], size[-1]), '--input-size')
        except ValueError as e:
            return _refuse(f'error: {e}')
    if osp.exists(args.out_file):
        return _refuse(f'error: {args.out_file}: exists; not overwritten')
    if args.int8 and (args.calib is None or args.fp16):
        return _refuse('error: --int8 needs --calib IMG_DIR_OR_COCO_JSON and excludes --fp16')
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    for path, what in ((args.config, 'model config'), (ckpt, 'checkpoint')):
        if path is not None and not osp.isfile(path):
            return _refuse(f'error: {path}: {what} not found')
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        fp_file = osp.join(tmp, 'fp32.onnx') if args.int8 else args.out_file
        try:
            export_onnx(args.config, ckpt, fp_file,
                        input_size=None if size is None else (size[0], size[-1]),
                        dynamic=args.dynamic, score_thr=args.score_thr,
                        max_per_img=args.max_per_img, opset=args.opset, fp16=args.fp16,
                        dedupe_thr=args.dedupe_thr)
            if args.int8:
                from .quantize import quantize_onnx
                quantize_onnx(fp_file, args.out_file, args.calib, num_calib=args.num_calib)
        except (ValueError, ImportError) as e:  # QuantizeError is a ValueError
            return _refuse(f'error: {args.out_file}: {e}')
    print(f'wrote {args.out_file} ({"int8" if args.int8 else "fp16" if args.fp16 else "fp32"})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
