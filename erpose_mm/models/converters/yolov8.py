"""Map YOLOv8 weights (Ultralytics detection / pose, MMYOLO detection) onto an ER-Pose model.

ER-Pose's backbone (:class:`~erpose_mm.models.backbones.YOLOv8CSPDarknet`) and neck
(:class:`~erpose_mm.models.necks.YOLOv8PAFPN`, three levels for every scale; ER-Pose-n's
head reads only P4 / P5 of it) are YOLOv8's, layer for layer, with the same block
internals (``cv1`` / ``cv2`` / ``m.j``). What maps:

- backbone and neck: always (every tensor, or the source is refused);
- an Ultralytics pose source's keypoint branch ``cv4`` (Conv3x3-BN-SiLU, Conv3x3-BN-SiLU,
  Conv1x1 to K x 3), level by level by stride, into ER-Pose's ``kpt`` branch of both the
  SAH (``head.one2one``) and the MAH (``head.one2many``): the two hidden layers when
  their widths match, the output layer when K matches too (see
  :func:`ultralytics_kpt_output_to_erpose` for the channel order and decoding);
- nothing else: ER-Pose has no box branch, and its confidence branch (depthwise convs,
  one logit) has no YOLOv8 counterpart; those layers keep ER-Pose's initialisation.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..heads.erpose_branches import split_keypoint_channels
from .checkpoint_reader import ForeignCheckpoint


class ConversionError(ValueError):
    """The source does not fit the target; the message is one line."""


#: the 23 layers of Ultralytics' yolov8.yaml / yolov8-pose.yaml (the last is the head)
YOLOV8_LAYERS = ('Conv', 'Conv', 'C2f', 'Conv', 'C2f', 'Conv', 'C2f', 'Conv', 'C2f', 'SPPF',
                 'Upsample', 'Concat', 'C2f', 'Upsample', 'Concat', 'C2f', 'Conv', 'Concat',
                 'C2f', 'Conv', 'Concat', 'C2f')
HEAD_INDEX = len(YOLOV8_LAYERS)
#: Ultralytics layer index -> ER-Pose module (layers 10, 11, 13, 14, 17, 20 hold no tensors)
ULTRALYTICS_TO_ERPOSE = {
    0: 'backbone.stem', 1: 'backbone.stages.0.0', 2: 'backbone.stages.0.1',
    3: 'backbone.stages.1.0', 4: 'backbone.stages.1.1', 5: 'backbone.stages.2.0',
    6: 'backbone.stages.2.1', 7: 'backbone.stages.3.0', 8: 'backbone.stages.3.1',
    9: 'backbone.stages.3.2', 12: 'neck.top_down.0', 15: 'neck.top_down.1',
    16: 'neck.downsample.0', 18: 'neck.bottom_up.0', 19: 'neck.downsample.1',
    21: 'neck.bottom_up.1'}
#: (deepen blocks of stage 1, widen, P5 channels) -> scale, as in yolov8.yaml's ``scales``
SCALES = {(1, 16, 256): 'n', (1, 32, 512): 's', (2, 48, 576): 'm', (3, 64, 512): 'l',
          (3, 80, 640): 'x'}
#: what other families look like, by a layer type they have and YOLOv8 has not
OTHER_FAMILIES = (('C3k2', 'YOLO11'), ('C2PSA', 'YOLO11'), ('C3', 'YOLOv5u'),
                  ('SCDown', 'YOLOv10'), ('C2fCIB', 'YOLOv10'), ('RepNCSPELAN4', 'YOLOv9'),
                  ('A2C2f', 'YOLOv12'))
_MMYOLO_RENAMES = ((r'^backbone\.stage(\d)\.', lambda m: f'backbone.stages.{int(m[1]) - 1}.'),
                   (r'^neck\.top_down_layers\.', 'neck.top_down.'),
                   (r'^neck\.downsample_layers\.', 'neck.downsample.'),
                   (r'^neck\.bottom_up_layers\.', 'neck.bottom_up.'),
                   (r'\.main_conv\.', '.cv1.'), (r'\.final_conv\.', '.cv2.'),
                   (r'\.blocks\.(\d+)\.conv1\.', r'.m.\1.cv1.'),
                   (r'\.blocks\.(\d+)\.conv2\.', r'.m.\1.cv2.'),
                   (r'^(backbone\.stages\.3\.2)\.conv1\.', r'\1.cv1.'),
                   (r'^(backbone\.stages\.3\.2)\.conv2\.', r'\1.cv2.'))


@dataclass
class YOLOv8Source:
    """A YOLOv8 checkpoint in ER-Pose names.

    Attributes:
        name: e.g. ``'Ultralytics YOLOv8s-pose'``.
        scale: n / s / m / l / x, or ``'custom'``.
        body: backbone + neck tensors under ER-Pose's names.
        kpt_levels: pose sources: stride -> {'0.conv.weight': ..., '2.bias': ...} of that
            level's ``cv4`` (Ultralytics names inside the branch, which ER-Pose shares).
        kpt_shape: pose sources: (K, 3) or (K, 2).
        unused: source modules not mapped, with the reason.
    """
    name: str
    scale: str
    body: Dict[str, torch.Tensor]
    kpt_levels: Dict[int, Dict[str, torch.Tensor]] = field(default_factory=dict)
    kpt_shape: Optional[Tuple[int, int]] = None
    unused: List[str] = field(default_factory=list)


@dataclass
class Conversion:
    """Result of :func:`convert_to_erpose`: ``state_dict`` (the target model's tensors,
    mapped ones from the source), ``mapped`` / ``left_at_init`` (target modules, each
    with its source or the reason) and ``unused`` (source parts not used)."""
    state_dict: Dict[str, torch.Tensor]
    mapped: List[str]
    left_at_init: List[str]
    unused: List[str]
    left_at_init_keys: List[str]


def body_signature(sd: Dict[str, torch.Tensor]) -> Tuple[int, int, int]:
    """(bottlenecks in stage 1, stem channels, P5 channels) of ER-Pose-named tensors: the
    scale's depth, width and channel cap."""
    try:
        blocks = {k.split('.')[5] for k in sd if k.startswith('backbone.stages.0.1.m.')}
        return (len(blocks), int(sd['backbone.stem.conv.weight'].shape[0]),
                int(sd['backbone.stages.3.2.cv2.conv.weight'].shape[0]))
    except KeyError as e:
        raise ConversionError(f'no {e.args[0]} tensor: not a YOLOv8 backbone') from None


def describe_scale(sig: Tuple[int, int, int]) -> str:
    scale = SCALES.get(sig)
    detail = f'{sig[0]} bottleneck(s) per C2f in stage 1, stem {sig[1]} / P5 {sig[2]} channels'
    return f'{scale} ({detail})' if scale else f'a non-standard scale ({detail})'


def _short_types(types: Sequence[str]) -> List[str]:
    return [t.rsplit('.', 1)[-1] for t in types]


def _refuse_other_family(path: str, types: Sequence[str], keys: Sequence[str]) -> None:
    short = set(_short_types(types))
    for marker, family in OTHER_FAMILIES:
        if marker in short:
            raise ConversionError(f'{path}: a {family} checkpoint (has {marker} layers), not '
                                  f'YOLOv8; only YOLOv8 backbones/necks map onto ER-Pose')
    if types and _short_types(types)[:HEAD_INDEX] != list(YOLOV8_LAYERS):
        raise ConversionError(f'{path}: not a YOLOv8 (layers {",".join(_short_types(types))})')
    layers = {int(k.split('.')[1]) for k in keys}
    expected = set(ULTRALYTICS_TO_ERPOSE) | {HEAD_INDEX}
    if any(re.match(r'model\.[2468]\.cv3\.', k) for k in keys):
        raise ConversionError(f'{path}: a YOLOv5u checkpoint (C3 blocks), not YOLOv8')
    if layers != expected:
        extra = sorted(layers - expected)
        raise ConversionError(f'{path}: not a YOLOv8 (tensors in layers {extra} where YOLOv8 '
                              f'has none{"; YOLO11 has C2PSA at 10" if 10 in extra else ""})')


def from_ultralytics(ckpt: ForeignCheckpoint) -> YOLOv8Source:
    """Ultralytics ``model.N.*`` tensors -> :class:`YOLOv8Source` (refuses non-YOLOv8)."""
    keys = [k for k in ckpt.state_dict if k.startswith('model.')]
    _refuse_other_family(ckpt.path, ckpt.layer_types, keys)
    head_type = _short_types(ckpt.layer_types)[-1] if ckpt.layer_types else None
    if head_type not in (None, 'Detect', 'Pose'):
        raise ConversionError(f'{ckpt.path}: a YOLOv8 {head_type} checkpoint; only detection '
                              f'(Detect) and pose (Pose) checkpoints are supported')
    body, kpt_levels = OrderedDict(), {}
    strides = [int(s) for s in ckpt.head_strides or (8, 16, 32)]
    for k in keys:
        _, idx, rest = k.split('.', 2)
        idx = int(idx)
        if idx in ULTRALYTICS_TO_ERPOSE:
            body[f'{ULTRALYTICS_TO_ERPOSE[idx]}.{rest}'] = ckpt.state_dict[k]
        elif rest.startswith('cv4.'):
            _, level, inner = rest.split('.', 2)
            kpt_levels.setdefault(strides[int(level)], {})[inner] = ckpt.state_dict[k]
    kpt_shape = None
    if kpt_levels:
        yaml_shape = ckpt.yaml.get('kpt_shape')
        nk = int(next(iter(kpt_levels.values()))['2.weight'].shape[0])
        kpt_shape = tuple(int(v) for v in yaml_shape) if yaml_shape else (nk // 3, 3)
    task = '-pose' if kpt_levels else ''
    scale = SCALES.get(body_signature(body), 'custom')
    unused = ['model.22.cv2 (box branch: ER-Pose is box-free)',
              'model.22.cv3 (class branch: ER-Pose\'s confidence branch uses depthwise convs)']
    return YOLOv8Source(f'Ultralytics YOLOv8{scale}{task}', scale, body, kpt_levels,
                        kpt_shape, unused)


def from_mmyolo(ckpt: ForeignCheckpoint) -> YOLOv8Source:
    """MMYOLO ``backbone.* / neck.*`` tensors of a YOLOv8 -> :class:`YOLOv8Source`."""
    sd = ckpt.state_dict
    for k in sd:
        if k.startswith(('backbone.', 'neck.')) and re.search(
                r'short_conv|reduce_layers|out_layers|rep|attention', k):
            raise ConversionError(f'{ckpt.path}: an MMYOLO model other than YOLOv8 (has {k}); '
                                  f'only YOLOv8 backbones/necks map onto ER-Pose')
    body = OrderedDict()
    for k, v in sd.items():
        if not k.startswith(('backbone.', 'neck.')):
            continue
        for pattern, repl in _MMYOLO_RENAMES:
            k = re.sub(pattern, repl, k)
        body[k] = v
    scale = SCALES.get(body_signature(body), 'custom')
    heads = sorted({k.split('.')[0] for k in sd if not k.startswith(('backbone.', 'neck.'))})
    return YOLOv8Source(f'MMYOLO YOLOv8-{scale}', scale, body,
                        unused=[f'{h} (detection head)' for h in heads])


def load_yolov8_source(ckpt: ForeignCheckpoint) -> YOLOv8Source:
    """Recognise the checkpoint's layout (Ultralytics or MMYOLO) and read it."""
    keys = list(ckpt.state_dict)
    if any(re.match(r'model\.\d+\.', k) for k in keys):
        return from_ultralytics(ckpt)
    if any(k.startswith('backbone.stages.') for k in keys):
        raise ConversionError(f'{ckpt.path}: already an ER-Pose checkpoint; give it to '
                              f'load_from directly')
    if any(k.startswith('backbone.stage1.') for k in keys):
        return from_mmyolo(ckpt)
    raise ConversionError(f'{ckpt.path}: neither an Ultralytics (model.N.*) nor an MMYOLO '
                          f'(backbone.stageN.*) YOLOv8 checkpoint')


def ultralytics_kpt_output_to_erpose(weight: torch.Tensor, bias: torch.Tensor,
                                     num_keypoints: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reorder and shift an Ultralytics pose output layer into ER-Pose's.

    Ultralytics: channels ``(x_0, y_0, v_0, x_1, ...)``, decoded as
    ``x = (2 t_x + i) * stride`` for cell column ``i`` (``(anchor - 0.5)``, anchors at cell
    centres); ``v`` is a visibility logit. ER-Pose (``offset_scale`` 2): channels
    ``(x_0, y_0, x_1, y_1, ..., v_0, ..., v_{K-1})``, decoded as
    ``x = (i + 0.5) * stride + 2 t_x * stride``. So ``t_erpose = t_ultralytics - 0.25``: the
    same 1x1 conv with reordered output channels and the offset biases shifted by -0.25.

    Shapes: weight (3K, C, 1, 1), bias (3K,) -> the same shapes in ER-Pose's order (fp32).
    """
    K = num_keypoints
    order = [3 * k + d for k in range(K) for d in (0, 1)] + [3 * k + 2 for k in range(K)]
    # fp32 before the shift: in fp16 (Ultralytics' storage) t - 0.25 would round
    w, b = weight[order].float(), bias[order].float()
    offsets, _ = split_keypoint_channels(b, K, dim=0)
    offsets -= 0.25
    return w, b


def convert_to_erpose(source: YOLOv8Source, model: nn.Module, cfg_name: str) -> Conversion:
    """Map ``source`` onto ``model`` (a built ER-Pose ``BottomupPoseEstimator``).

    Every backbone / neck tensor of the model must come from the source with its shape
    (else :class:`ConversionError`, naming both scales when they differ). Returns the
    model's full state dict with the mapped tensors replaced (fp32).
    """
    target = model.state_dict()
    tgt_body = {k: v for k, v in target.items() if k.startswith(('backbone.', 'neck.'))}
    src_sig, tgt_sig = body_signature(source.body), body_signature(tgt_body)
    if src_sig != tgt_sig:
        raise ConversionError(f'{source.name} is scale {describe_scale(src_sig)} but {cfg_name} '
                              f'builds scale {describe_scale(tgt_sig)}; convert with the config '
                              f'of the matching scale')
    missing = [k for k in tgt_body if k not in source.body]
    extra = [k for k in source.body if k not in tgt_body]
    bad = [k for k in tgt_body if k in source.body and source.body[k].shape != tgt_body[k].shape]
    if missing or extra or bad:
        what = (missing and f'missing {missing[0]}') or (extra and f'unexpected {extra[0]}') \
            or f'{bad[0]} has shape {tuple(source.body[bad[0]].shape)} vs ' \
               f'{tuple(tgt_body[bad[0]].shape)}'
        raise ConversionError(f'{source.name} does not fit the backbone/neck of {cfg_name} '
                              f'({len(missing) + len(extra) + len(bad)} tensors differ, e.g. '
                              f'{what})')
    out = OrderedDict((k, v.clone()) for k, v in target.items())
    for k in tgt_body:
        out[k] = source.body[k].to(target[k].dtype).clone()
    mapped = [f'backbone + neck: {len(tgt_body)} tensors from {source.name}']
    mapped_keys = set(tgt_body)
    left: List[str] = []
    head = model.head
    K = head.num_keypoints
    for branch in ('one2one', 'one2many'):
        if getattr(head, branch, None) is None:
            continue
        for level, stride in enumerate(head.featmap_strides):
            pre = f'head.{branch}.kpt.{level}.'
            src = source.kpt_levels.get(int(stride))
            if not source.kpt_levels:
                left.append(f'{pre[:-1]} (the source has no keypoint branch)')
                continue
            if src is None:
                left.append(f'{pre[:-1]} (the source has no stride-{stride} level)')
                continue
            hidden = [k for k in target if k.startswith(pre) and not k.startswith(pre + '2.')]
            if any(src.get(k[len(pre):]) is None or
                   src[k[len(pre):]].shape != target[k].shape for k in hidden):
                width_s = int(src['0.conv.weight'].shape[0])
                width_t = int(target[pre + '0.conv.weight'].shape[0])
                left.append(f'{pre[:-1]} (hidden width {width_t} vs the source\'s {width_s}: '
                            f'kpt_channels = max(C // 4, 3K); set model.head.kpt_channels='
                            f'{width_s} to take the source\'s layers)')
                continue
            for k in hidden:
                out[k] = src[k[len(pre):]].to(target[k].dtype).clone()
                mapped_keys.add(k)
            src_k, ndim = source.kpt_shape
            why = None
            if src_k != K:
                why = f'K={K} vs the source\'s {src_k}'
            elif ndim != 3:
                why = 'the source predicts no visibility (kpt_shape [K, 2])'
            elif float(head.offset_scale) != 2.0:
                why = f'offset_scale {head.offset_scale} (the mapping needs 2, as Ultralytics)'
            if why:
                mapped.append(f'{pre}0-1 (hidden) <- cv4 stride {stride}')
                left.append(f'{pre}2 (output layer: {why})')
                continue
            w, b = ultralytics_kpt_output_to_erpose(src['2.weight'], src['2.bias'], K)
            out[pre + '2.weight'], out[pre + '2.bias'] = w.float(), b.float()
            mapped_keys.update((pre + '2.weight', pre + '2.bias'))
            mapped.append(f'{pre}0-2 (hidden + output, K={K}: channels reordered to 2K '
                          f'offsets + K visibility, offsets shifted by -0.25) <- cv4 stride '
                          f'{stride}')
    for branch in ('one2one', 'one2many'):
        if getattr(head, branch, None) is not None:
            left.append(f'head.{branch}.conf (confidence branch: no YOLOv8 counterpart)')
            if getattr(getattr(head, branch), 'bbox', None) is not None:
                left.append(f'head.{branch}.bbox (box branch of an ablation)')
    left_keys = [k for k in target if k not in mapped_keys]
    return Conversion(out, mapped, left, list(source.unused), left_keys)
