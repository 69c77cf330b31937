"""YOLOv8 -> ER-Pose weight conversion against the real source models' outputs.

Fixtures (tests/fixtures/yolov8_converter, made by tests/make_test_fixture.py
from Ultralytics' own yaml and MMYOLO's own classes): tensor names and shapes of each
source model and its P3/P4/P5 neck features (plus decoded keypoints for pose models) on
a fixed 1x3x64x64 input, with the model's tensors set to deterministic pseudo-random
values the test regenerates from the names. A converted ER-Pose model must reproduce
those outputs: any wrong mapping (layer, block order, concat order, BN statistics,
keypoint channel order or decoding offset) changes them.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import erpose_mm  # noqa: F401
import make_test_fixture
from erpose_mm.models.converters import (ConversionError, ForeignCheckpoint, convert_to_erpose,
                                         load_yolov8_source, read_checkpoint)
from mmpose.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIX = osp.join(REPO, 'tests', 'fixtures', 'yolov8_converter')
CONFIGS = {s: f'configs/erpose/erpose-{s}_coco-640.py' for s in 'nsml'}
ATOL = 1e-4
# a make_test_fixture.py output with more scales (`--scales m l`) adds their cases
EXTRA_FIX = os.environ.get('ERPOSE_CONVERTER_FIXTURES')
ULTRALYTICS_CASES = ['yolov8n', 'yolov8n-pose', 'yolov8s', 'yolov8s-pose'] + sorted(
    f[len('ref_ultralytics_'):-3] for f in (os.listdir(EXTRA_FIX) if EXTRA_FIX else [])
    if re.fullmatch(r'ref_ultralytics_yolov8[ml](-pose)?\.pt', f))


MTF = make_test_fixture


def _ref(name: str) -> dict:
    path = osp.join(FIX, name)
    if not osp.exists(path) and EXTRA_FIX:
        path = osp.join(EXTRA_FIX, name)
    return torch.load(path, map_location='cpu', weights_only=True)


def _build(config: str, **model_overrides) -> torch.nn.Module:
    cfg = Config.fromfile(osp.join(REPO, config))
    if model_overrides:
        cfg.merge_from_dict(model_overrides)
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _save_state_dict(tmp_path, shapes: dict, fp16: bool = True, wrap: str = None) -> str:
    """What a user's ``torch.save(model.state_dict())`` of the source would hold."""
    sd = MTF.deterministic_state_dict(shapes)
    if fp16:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    path = str(tmp_path / 'source.pth')
    torch.save({wrap: sd, 'meta': {'epoch': 1}} if wrap else sd, path)
    return path


def _neck_features(model: torch.nn.Module):
    with torch.no_grad():
        return model.neck(model.backbone(MTF.fixture_input()))


def _assert_features(feats, ref: dict) -> None:
    for name, got in zip(('P3', 'P4', 'P5'), feats):
        want = ref[name]
        assert got.shape == want.shape, name
        # the n / s references peak at 0.2-0.8: 1e-4 absolute there; relative to the
        # peak for larger ones (float32 rounding grows with the values)
        peak = want.abs().max().item()
        assert peak > 0.05
        err = (got - want).abs().max().item()
        print(f'{name}: max |diff| {err:.2e} (max |value| {peak:.3f})')
        assert err < ATOL * max(1.0, peak), f'{name}: max |diff| {err:.2e}'


def _assert_keypoints(model: torch.nn.Module, feats, ref: dict) -> None:
    """ER-Pose's decoded keypoints / visibilities on the levels it uses equal
    Ultralytics' kpts_decode of the same levels, for the SAH and the MAH branch."""
    head = model.head
    sizes = [tuple(s) for s in ref['level_sizes']]
    all_strides = [8, 16, 32]
    start, spans = 0, {}
    for s, (h, w) in zip(all_strides, sizes):
        spans[s] = (start, start + h * w)
        start += h * w
    want = torch.cat([ref['keypoints'][:, slice(*spans[s])] for s in head.featmap_strides], 1)
    selected = head._select(feats)
    for branch in (head.one2one, head.one2many):
        with torch.no_grad():
            outs = head.decode(branch(selected))
        # n / s keypoints lie within ~60 px of the origin: 1e-3 px; relative to the peak
        # for larger ones. A wrong channel order or a missing -0.25 offset shift (half a
        # stride, 8-16 px) is far beyond either
        peak = want[..., :2].abs().max().item()
        xy_err = (outs['keypoints'] - want[..., :2]).abs().max().item()
        want_vis = torch.cat([ref['vis_logits'][:, slice(*spans[s])]
                              for s in head.featmap_strides], 1)
        vis_peak = want_vis.abs().max().item()
        vis_err = (outs['vis_logits'] - want_vis).abs().max().item()
        print(f'keypoints: max |diff| {xy_err:.2e} px (max |value| {peak:.1f}), '
              f'visibility logits {vis_err:.2e} (max |value| {vis_peak:.2f})')
        assert xy_err < 1e-3 * max(1.0, peak / 64), f'keypoint xy max |diff| {xy_err:.2e} px'
        assert vis_err < 1e-4 * max(1.0, vis_peak), f'visibility max |diff| {vis_err:.2e}'


@pytest.mark.parametrize('name', ULTRALYTICS_CASES)
def test_ultralytics_state_dict_gives_ultralytics_features(name, tmp_path):
    ref = _ref(f'ref_ultralytics_{name}.pt')
    src = load_yolov8_source(read_checkpoint(_save_state_dict(tmp_path, ref['shapes'])))
    scale = name[6]
    model = _build(CONFIGS[scale])
    if name == 'yolov8n':
        # the tolerance means something: an unconverted model is far off
        assert (_neck_features(model)[2] - ref['reference']['P5']).abs().max() > 0.05
    conv = convert_to_erpose(src, model, CONFIGS[scale])
    model.load_state_dict(conv.state_dict, strict=True)
    feats = _neck_features(model)
    _assert_features(feats, ref['reference'])
    pose = name.endswith('-pose')
    assert bool(src.kpt_levels) == pose
    if pose:
        _assert_keypoints(model, feats, ref['reference'])
        assert not any('kpt' in line for line in conv.left_at_init)
        # both branches, every level of the target
        assert sum('kpt' in line for line in conv.mapped) == 2 * len(model.head.featmap_strides)
    else:
        assert sum('kpt' in line for line in conv.left_at_init) == \
            2 * len(model.head.featmap_strides)
    assert all('conf' in k or 'kpt' in k for k in conv.left_at_init_keys)


@pytest.mark.parametrize('scale', ['n', 's'])
def test_mmyolo_checkpoint_gives_mmyolo_features(scale, tmp_path):
    ref = _ref(f'ref_mmyolo_yolov8_{scale}.pt')
    src = load_yolov8_source(read_checkpoint(
        _save_state_dict(tmp_path, ref['shapes'], fp16=False, wrap='state_dict')))
    assert src.name == f'MMYOLO YOLOv8-{scale}'
    model = _build(CONFIGS[scale])
    model.load_state_dict(convert_to_erpose(src, model, CONFIGS[scale]).state_dict)
    _assert_features(_neck_features(model), ref['reference'])


def test_genuine_ultralytics_pickle_read_without_ultralytics():
    """A .pt written by Ultralytics' YOLO.save (pickled PoseModel, fp16) of a narrow
    YOLOv8-pose: read without importing ultralytics, tensors as stored, and converted
    onto an ER-Pose of the same width it gives Ultralytics' outputs."""
    had_ultralytics = 'ultralytics' in sys.modules
    ckpt = read_checkpoint(osp.join(FIX, 'ultralytics_yolov8t-pose.pt'))
    assert had_ultralytics or 'ultralytics' not in sys.modules
    ref = _ref('ref_ultralytics_yolov8t-pose.pt')
    assert ckpt.framework == 'ultralytics'
    assert ckpt.layer_types[-1] == 'ultralytics.nn.modules.head.Pose'
    assert ckpt.head_strides == [8.0, 16.0, 32.0] and list(ckpt.yaml['kpt_shape']) == [17, 3]
    want = MTF.deterministic_state_dict(ref['shapes'])
    assert set(ckpt.state_dict) == set(want)
    for k, v in ckpt.state_dict.items():
        assert v.dtype == (torch.float16 if want[k].is_floating_point() else torch.int64)
        assert torch.equal(v.to(want[k].dtype), want[k]), k
    # ER-Pose-n's layout at YOLOv8's width 0.0625: P3/P4/P5 = 16/32/64 channels
    w = 0.0625
    model = _build(CONFIGS['n'], model=dict(
        backbone=dict(widen_factor=w), neck=dict(in_channels=[16, 32, 64], widen_factor=w),
        head=dict(in_channels=[32, 64], conf_channels=16)))
    src = load_yolov8_source(ckpt)
    assert src.scale == 'custom' and src.kpt_shape == (17, 3)
    model.load_state_dict(convert_to_erpose(src, model, 'narrow').state_dict)
    feats = _neck_features(model)
    _assert_features(feats, ref['reference'])
    _assert_keypoints(model, feats, ref['reference'])


def test_other_keypoint_count_keeps_hidden_layers_only(tmp_path):
    """K=14 target from a 17-keypoint source: output layers stay at ER-Pose's init."""
    ref = _ref('ref_ultralytics_yolov8s-pose.pt')
    src = load_yolov8_source(read_checkpoint(_save_state_dict(tmp_path, ref['shapes'])))
    model = _build('configs/erpose/erpose-s_crowdpose-640.py',
                   model=dict(head=dict(kpt_channels=51)))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    conv = convert_to_erpose(src, model, 'crowdpose')
    for k, v in conv.state_dict.items():
        if '.kpt.' in k and '.2.' in k.split('.kpt.')[1][:4]:
            assert torch.equal(v, init[k]), k           # output layer: left at init
        elif '.kpt.' in k and not k.endswith('num_batches_tracked'):
            assert not torch.equal(v, init[k]), k       # hidden layers: from the source
    assert sum('K=14 vs the source\'s 17' in line for line in conv.left_at_init) == 6
    # a hidden width that differs: left at init, and the message names the setting
    model = _build('configs/erpose/erpose-s_crowdpose-640.py',
                   model=dict(head=dict(kpt_channels=42)))
    conv = convert_to_erpose(src, model, 'crowdpose')
    assert any('model.head.kpt_channels=51' in line for line in conv.left_at_init)
    assert not any('kpt' in line for line in conv.mapped)


@pytest.mark.parametrize('name,family', [('yolo11n', 'YOLO11'), ('yolov5nu', 'YOLOv5u')])
def test_refuses_other_families(name, family, tmp_path):
    ref = _ref(f'names_{name}.pt')
    sd = MTF.deterministic_state_dict(ref['shapes'])
    # with the pickled layer types, and as a bare state dict (names only)
    for ckpt in (ForeignCheckpoint('x.pt', sd, 'ultralytics', layer_types=ref['layer_types']),
                 read_checkpoint(_save_state_dict(tmp_path, ref['shapes']))):
        with pytest.raises(ConversionError) as e:
            load_yolov8_source(ckpt)
        msg = str(e.value)
        assert '\n' not in msg and ('not YOLOv8' in msg or 'not a YOLOv8' in msg), msg
        if ckpt.layer_types:
            assert family in msg


def test_refuses_other_scale(tmp_path):
    ref = _ref('ref_ultralytics_yolov8s.pt')
    src = load_yolov8_source(read_checkpoint(_save_state_dict(tmp_path, ref['shapes'])))
    with pytest.raises(ConversionError) as e:
        convert_to_erpose(src, _build(CONFIGS['n']), 'erpose-n_coco-640.py')
    msg = str(e.value)
    assert '\n' not in msg and 'scale s' in msg and 'scale n' in msg


def test_refuses_non_checkpoints_and_erpose_checkpoints(tmp_path):
    text = tmp_path / 'notes.pt'
    text.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='notes.pt'):
        read_checkpoint(str(text))
    erpose = tmp_path / 'erpose.pth'
    torch.save({'state_dict': _build(CONFIGS['n']).state_dict()}, erpose)
    with pytest.raises(ConversionError, match='already an ER-Pose checkpoint'):
        load_yolov8_source(read_checkpoint(str(erpose)))


class _Payload:
    """Pickles as a call that would create a file when unpickled normally."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_reader_runs_no_code_from_the_file(tmp_path):
    marker = str(tmp_path / 'created_by_unpickling')
    path = str(tmp_path / 'payload.pt')
    torch.save({'state_dict': {'backbone.x': torch.ones(2)}, 'extra': _Payload(marker)}, path)
    ckpt = read_checkpoint(path)
    assert not osp.exists(marker)
    assert torch.equal(ckpt.state_dict['backbone.x'], torch.ones(2))
    # the same file unpickled normally does run it (the test's payload is real)
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


def test_cli_writes_checkpoint_and_never_overwrites(tmp_path):
    ref = _ref('ref_ultralytics_yolov8n-pose.pt')
    src = _save_state_dict(tmp_path, ref['shapes'])
    out = tmp_path / 'converted.pth'
    cmd = [sys.executable, osp.join(REPO, 'tools', 'model_converters', 'yolov8_to_erpose.py'),
           src, osp.join(REPO, CONFIGS['n']), str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'mapped:' in res.stdout and 'head.one2one.conf' in res.stdout
    ckpt = torch.load(out, map_location='cpu', weights_only=False)
    report = ckpt['meta']['yolov8_conversion']
    assert report['source_model'] == 'Ultralytics YOLOv8n-pose'
    model = _build(CONFIGS['n'])
    assert set(ckpt['state_dict']) == set(model.state_dict())
    before = out.stat().st_mtime_ns
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip() == f'error: {out} exists; not overwriting it'
    assert out.stat().st_mtime_ns == before


@pytest.mark.parametrize('which', ['src', 'config'])
def test_cli_refuses_a_missing_file_with_status_2(tmp_path, capsys, which):
    from tools.model_converters import yolov8_to_erpose
    (tmp_path / 'src.pt').write_bytes(b'')  # checked for existence before it is read
    args = dict(src=str(tmp_path / 'src.pt'), config=osp.join(REPO, CONFIGS['n']))
    args[which] = str(tmp_path / 'missing.pth')
    with pytest.raises(SystemExit) as err:
        yolov8_to_erpose.main([args['src'], args['config'], str(tmp_path / 'out.pth')])
    assert err.value.code == 2
    problem = 'no such file' if which == 'src' else 'no such config file'
    assert capsys.readouterr().err.strip() == f'error: {tmp_path / "missing.pth"}: {problem}'
    assert not (tmp_path / 'out.pth').exists()
