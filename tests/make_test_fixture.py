#!/usr/bin/env python
"""Make the YOLOv8 -> ER-Pose converter's test fixtures from the real source models.

Ultralytics (run in an environment with ultralytics, e.g. benchmarks/setup_peers_env.sh)::

    YOLO_OFFLINE=1 python tests/make_test_fixture.py ultralytics \\
        tests/fixtures/yolov8_converter

MMYOLO (run in the project environment; MMYOLO 0.6.0's package ``__init__`` refuses
mmcv 2.1, so its source is given as an unpacked wheel and imported module by module)::

    pip download mmyolo==0.6.0 --no-deps -d /tmp/w && unzip -q /tmp/w/mmyolo-*.whl -d /tmp/mmyolo
    python tests/make_test_fixture.py mmyolo tests/fixtures/yolov8_converter \\
        --mmyolo-src /tmp/mmyolo

Each model is built from the framework's own definition (Ultralytics yaml, MMYOLO
classes), its tensors are set with :func:`deterministic_state_dict` (pseudo-random values
from the tensor's name, exact in fp16 as Ultralytics stores them), and the fixture keeps
only the tensor names, shapes and the model's outputs on a fixed 1x3x64x64 input: the
test regenerates the same tensors from the names, so no weights are committed. Also
written: one genuine Ultralytics ``.pt`` of a very narrow YOLOv8-pose (widen 0.0625, the
real pickle format, ~0.6 MB) for the reader, and tensor names of YOLO11n / YOLOv5nu
for the refusals.
"""
import argparse
import os
import os.path as osp
import sys
import zlib
from typing import Dict, Sequence

import torch

_M = 2147483647  # 2^31 - 1


def _uniform(name: str, shape: Sequence[int]) -> torch.Tensor:
    """Pseudo-random float64 values in [-0.5, 0.5) determined by ``name`` and ``shape``.

    Integer hashing (no floating point until the last step), so that every platform and
    torch version makes the same values.
    """
    n = 1
    for s in shape:
        n *= int(s)
    seed = zlib.crc32(name.encode()) % _M
    x = (torch.arange(n, dtype=torch.int64) + 1 + seed) % _M
    x = (x * 48271) % _M
    x = (x * x + seed) % _M
    x = (x * 16807) % _M
    return (x.double() / _M - 0.5).reshape(tuple(int(s) for s in shape))


def deterministic_tensor(name: str, shape: Sequence[int]) -> torch.Tensor:
    """Pseudo-random fp32 tensor (exact in fp16) of a model, determined by ``name``.

    Scales suit a conv net in eval mode: conv weights have variance 2/fan_in, BatchNorm
    statistics stay near (0, 1): YOLOv8 features come out with a standard deviation ~0.1.
    """
    u = _uniform(name, shape)
    leaf = name.rsplit('.', 1)[-1]
    if len(shape) == 4:                                 # conv weight
        fan_in = int(shape[1]) * int(shape[2]) * int(shape[3])
        v = u * (24.0 / fan_in) ** 0.5                 # variance 2 / fan_in
    elif leaf == 'running_var':
        v = 0.5 + (u + 0.5) * 0.5
    elif leaf == 'weight':                              # BN gamma
        v = 1.0 + 0.2 * u
    else:                                               # BN beta / mean, conv bias
        v = 0.1 * u
    return v.half().float()


def deterministic_state_dict(shapes: Dict[str, Sequence[int]]) -> Dict[str, torch.Tensor]:
    """Name -> tensor for every floating entry; ``num_batches_tracked`` is 0 (int64)."""
    out = {}
    for k, shape in shapes.items():
        if k.endswith('num_batches_tracked'):
            out[k] = torch.zeros(tuple(shape), dtype=torch.int64)
        else:
            out[k] = deterministic_tensor(k, shape)
    return out


def fixture_input() -> torch.Tensor:
    """The 1x3x64x64 input every fixture's reference outputs are computed on (in [0, 1))."""
    return (_uniform('input', (1, 3, 64, 64)) + 0.5).float()


def _shapes(model: torch.nn.Module) -> Dict[str, list]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def _ultralytics(out_dir: str, scales: Sequence[str] = ('n', 's')) -> None:
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel, PoseModel, yaml_model_load
    from ultralytics.utils.tal import make_anchors

    def run(model) -> dict:
        model.eval()
        model.load_state_dict(deterministic_state_dict(_shapes(model)))
        feats = {}
        hooks = [model.model[i].register_forward_hook(
            lambda m, a, o, i=i: feats.__setitem__(i, o)) for i in (15, 18, 21)]
        with torch.no_grad():
            model(fixture_input())
            ref = dict(P3=feats[15].clone(), P4=feats[18].clone(), P5=feats[21].clone())
            head = model.model[-1]
            if hasattr(head, 'cv4'):
                levels = [ref['P3'], ref['P4'], ref['P5']]
                raw = torch.cat([head.cv4[i](x).flatten(2) for i, x in enumerate(levels)], 2)
                anchors, strides = make_anchors(levels, head.stride, 0.5)
                head.anchors, head.strides = anchors.transpose(0, 1), strides.transpose(0, 1)
                K, ndim = head.kpt_shape
                dec = head.kpts_decode(raw)                     # (1, K*ndim, N)
                ref['keypoints'] = dec.reshape(1, K, ndim, -1).permute(0, 3, 1, 2).contiguous()
                # the visibility logits before the sigmoid (N, K): comparable at any scale
                vis = raw.reshape(1, K, ndim, -1)[:, :, 2]
                ref['vis_logits'] = vis.transpose(1, 2).contiguous()
                ref['level_sizes'] = [list(x.shape[2:]) for x in levels]
        for h in hooks:
            h.remove()
        return ref

    for scale in scales:
        for task, cls in (('', DetectionModel), ('-pose', PoseModel)):
            name = f'yolov8{scale}{task}'
            model = cls(f'{name}.yaml', verbose=False)
            ref = run(model)
            torch.save(dict(source=name, framework='ultralytics', shapes=_shapes(model),
                            layer_types=[m.type for m in model.model],
                            head_strides=[float(s) for s in model.model[-1].stride],
                            kpt_shape=list(model.yaml.get('kpt_shape') or []), reference=ref),
                       osp.join(out_dir, f'ref_ultralytics_{name}.pt'))
    for name in ('yolo11n', 'yolov5nu'):
        model = DetectionModel(f'{name}.yaml', verbose=False)
        torch.save(dict(source=name, framework='ultralytics', shapes=_shapes(model),
                        layer_types=[m.type for m in model.model]),
                   osp.join(out_dir, f'names_{name}.pt'))
    # a genuine Ultralytics .pt (YOLO().save: pickled PoseModel in fp16) of a narrow model
    cfg = yaml_model_load('yolov8n-pose.yaml')
    cfg.update(nc=1, scale='t', scales={'t': [0.33, 0.0625, 1024]})
    yolo = YOLO('yolov8n-pose.yaml', task='pose')
    yolo.model = PoseModel(cfg, verbose=False)
    ref = run(yolo.model)
    pt = osp.join(out_dir, 'ultralytics_yolov8t-pose.pt')
    yolo.save(pt)
    torch.save(dict(source='yolov8t-pose', framework='ultralytics', reference=ref,
                    shapes=_shapes(yolo.model)),
               osp.join(out_dir, 'ref_ultralytics_yolov8t-pose.pt'))


def _mmyolo(out_dir: str, src: str) -> None:
    import types
    # a package whose submodules come from src/mmyolo/: its __init__.py (the mmcv < 2.1
    # assertion) is skipped
    pkg = types.ModuleType('mmyolo')
    pkg.__path__ = [osp.join(src, 'mmyolo')]
    sys.modules['mmyolo'] = pkg
    from mmyolo.models.backbones.csp_darknet import YOLOv8CSPDarknet
    from mmyolo.models.necks.yolov8_pafpn import YOLOv8PAFPN

    norm = dict(type='BN', momentum=0.03, eps=0.001)
    act = dict(type='SiLU', inplace=True)
    # MMYOLO's configs/yolov8/yolov8_{n,s}_syncbn_fast_8xb16-500e_coco.py
    for scale, (deepen, widen, last) in dict(n=(0.33, 0.25, 1024), s=(0.33, 0.5, 1024)).items():
        model = torch.nn.Module()
        model.backbone = YOLOv8CSPDarknet(deepen_factor=deepen, widen_factor=widen,
                                          last_stage_out_channels=last, norm_cfg=norm,
                                          act_cfg=act)
        model.neck = YOLOv8PAFPN(in_channels=[256, 512, last], out_channels=[256, 512, last],
                                 num_csp_blocks=3, deepen_factor=deepen, widen_factor=widen,
                                 norm_cfg=norm, act_cfg=act)
        model.eval()
        model.load_state_dict(deterministic_state_dict(_shapes(model)))
        with torch.no_grad():
            p3, p4, p5 = model.neck(model.backbone(fixture_input()))
        torch.save(dict(source=f'mmyolo_yolov8_{scale}', framework='mmengine',
                        shapes=_shapes(model), reference=dict(P3=p3, P4=p4, P5=p5)),
                   osp.join(out_dir, f'ref_mmyolo_yolov8_{scale}.pt'))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('framework', choices=['ultralytics', 'mmyolo'])
    p.add_argument('out_dir')
    p.add_argument('--mmyolo-src', help='unpacked mmyolo wheel (the folder holding mmyolo/)')
    p.add_argument('--scales', nargs='+', default=['n', 's'], choices=list('nsmlx'),
                   help='Ultralytics YOLOv8 scales to make references for (the tests use n, s)')
    args = p.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.framework == 'ultralytics':
        _ultralytics(args.out_dir, args.scales)
    else:
        if not args.mmyolo_src:
            p.error('mmyolo needs --mmyolo-src')
        _mmyolo(args.out_dir, args.mmyolo_src)


if __name__ == '__main__':
    main()
