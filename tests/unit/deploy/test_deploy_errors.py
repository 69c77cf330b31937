"""tools/deploy.py checks its inputs before the export: one line naming the file and problem."""
import contextlib
import io
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
DEPLOY_CFG = osp.join(REPO, 'configs/deploy/pose-detection_erpose_onnxruntime_static-640x640.py')
CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
CFG_N14 = osp.join(REPO, 'configs/erpose/erpose-n_crowdpose-640.py')
CFG_256 = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
DYNAMIC_CFG = osp.join(REPO, 'configs/deploy/pose-detection_erpose_onnxruntime_dynamic.py')
PASSED = 'checks passed'


def _tool():
    from tools import deploy
    return deploy


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    d = tmp_path_factory.mktemp('deploy_errors')
    init_default_scope('mmpose')
    out = {}
    for name, cfg in (('ckpt', CFG_N), ('ckpt14', CFG_N14)):
        model = MODELS.build(Config.fromfile(cfg).model)
        out[name] = str(d / f'{name}.pth')
        torch.save(dict(meta={}, state_dict=model.state_dict()), out[name])
    out['img'] = str(d / 'img.jpg')
    cv2.imwrite(out['img'], np.full((120, 160, 3), 90, np.uint8))
    out['garbage'] = str(d / 'garbage.jpg')
    (d / 'garbage.jpg').write_bytes(bytes(range(256)) * 4)
    out['empty'] = str(d / 'empty.png')
    (d / 'empty.png').write_bytes(b'')
    out['mmdet'] = str(d / 'detection_onnxruntime_static.py')
    (d / 'detection_onnxruntime_static.py').write_text(
        "onnx_config = dict(type='onnx', save_file='end2end.onnx', input_shape=None)\n"
        "codebase_config = dict(type='mmdet', task='ObjectDetection')\n"
        "backend_config = dict(type='onnxruntime')\n")
    out['topdown'] = str(d / 'pose-detection_topdown.py')
    (d / 'pose-detection_topdown.py').write_text(
        "onnx_config = dict(type='onnx', save_file='end2end.onnx', input_shape=None)\n"
        "codebase_config = dict(type='mmpose', task='TopdownPoseEstimation')\n"
        "backend_config = dict(type='onnxruntime')\n")
    for name, shape in (('shape0', '[0, 0]'), ('negative', '[-32, 640]'), ('one', '[640]'),
                        ('odd', '[640, 500]'), ('s256', '[256, 256]')):
        out[name] = str(d / f'pose-detection_erpose_{name}.py')
        (d / f'pose-detection_erpose_{name}.py').write_text(
            f"onnx_config = dict(type='onnx', save_file='end2end.onnx', input_shape={shape})\n"
            "codebase_config = dict(type='mmpose', task='PoseDetection')\n"
            "backend_config = dict(type='onnxruntime')\n")
    out['heatmap'] = str(d / 'heatmap_model.py')
    (d / 'heatmap_model.py').write_text(
        "model = dict(type='TopdownPoseEstimator', head=dict(type='HeatmapHead'))\n")
    return out


def _run(monkeypatch, tmp_path, *args, work_dir=None):
    """main(argv) -> the refusal's one stderr line (exit status 2); PASSED when every check
    passed (the export, which needs MMDeploy, is stopped right after them)."""
    import erpose_mm.deploy as deploy_pkg
    monkeypatch.setattr(deploy_pkg, 'register_mmdeploy_rewriters',
                        lambda: (_ for _ in ()).throw(SystemExit(PASSED)))
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as err, contextlib.redirect_stderr(stderr):
        _tool().main([*args, '--work-dir', work_dir or str(tmp_path / 'out')])
    if err.value.code == PASSED:
        return PASSED
    assert err.value.code == 2, err.value.code
    msg = stderr.getvalue().strip()
    assert msg and '\n' not in msg, msg
    return msg


def test_good_inputs_pass_the_checks(files, monkeypatch, tmp_path):
    assert _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files['img']) == PASSED


def test_swapped_configs(files, monkeypatch, tmp_path):
    msg = _run(monkeypatch, tmp_path, CFG_N, DEPLOY_CFG, files['ckpt'], files['img'])
    assert msg == (f'error: {CFG_N}: is a model config, not a deploy config; the order is '
                   'DEPLOY_CFG MODEL_CFG CHECKPOINT IMG')
    # the deploy config given as the model config
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, DEPLOY_CFG, files['ckpt'], files['img'])
    assert msg == (f'error: {DEPLOY_CFG}: is a deploy config, not a model config; the order '
                   'is DEPLOY_CFG MODEL_CFG CHECKPOINT IMG')
    # the checkpoint where a config belongs
    msg = _run(monkeypatch, tmp_path, files['ckpt'], CFG_N, files['ckpt'], files['img'])
    assert msg.startswith(f'error: {files["ckpt"]}: expected a deploy config (.py)')


def test_deploy_config_of_another_codebase_or_task(files, monkeypatch, tmp_path):
    msg = _run(monkeypatch, tmp_path, files['mmdet'], CFG_N, files['ckpt'], files['img'])
    assert msg.startswith(f"error: {files['mmdet']}: a deploy config of codebase 'mmdet', "
                          'not mmpose')
    msg = _run(monkeypatch, tmp_path, files['topdown'], CFG_N, files['ckpt'], files['img'])
    assert msg.startswith(f"error: {files['topdown']}: a deploy config of task "
                          "'TopdownPoseEstimation'")


def test_model_config_of_another_model(files, monkeypatch, tmp_path):
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, files['heatmap'], files['ckpt'], files['img'])
    assert msg == (f"error: {files['heatmap']}: a model config with head 'HeatmapHead'; this "
                   'tool exports ER-Pose models (head ERPoseHead)')


@pytest.mark.parametrize('which, problem', [
    ('garbage', 'cannot decode as an image'),
    ('empty', 'empty file'),
])
def test_unreadable_image(files, monkeypatch, tmp_path, which, problem):
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files[which])
    assert msg.startswith(f'error: image {files[which]}: {problem}')
    # the same for --test-img
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files['img'],
               '--test-img', files[which])
    assert msg.startswith(f'error: test image {files[which]}: {problem}')


def test_checkpoint_that_does_not_fit_or_is_no_checkpoint(files, monkeypatch, tmp_path):
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt14'], files['img'])
    assert msg.startswith(f"error: {files['ckpt14']} does not fit {CFG_N}: another keypoint "
                          'count (checkpoint K=14, config K=17)')
    assert msg.endswith('(--allow-partial-checkpoint loads only the tensors that fit)')
    assert _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt14'], files['img'],
                '--allow-partial-checkpoint') == PASSED
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['img'], files['img'])
    assert msg.startswith(f"error: {files['img']}: cannot be read as a PyTorch checkpoint")


def test_static_input_shape_must_be_the_model_configs(files, monkeypatch, tmp_path):
    """A static deploy shape other than the size the model config tests at is refused (the
    graph, its metadata and the deploy config always agree); a dynamic config takes any."""
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_256, files['ckpt'], files['img'])
    assert msg == (f'error: {DEPLOY_CFG}: static input shape 640x640 differs from the 256x256 '
                   f'{CFG_256} tests at (BottomupResize / codec input_size); use a deploy '
                   'config with onnx_config.input_shape=[256, 256] or a dynamic one '
                   '(configs/deploy/pose-detection_erpose_onnxruntime_dynamic.py)')
    assert _run(monkeypatch, tmp_path, files['s256'], CFG_256, files['ckpt'],
                files['img']) == PASSED
    assert _run(monkeypatch, tmp_path, DYNAMIC_CFG, CFG_256, files['ckpt'],
                files['img']) == PASSED


@pytest.mark.parametrize('which, problem', [
    ('shape0', '[0, 0]: width and height must be positive multiples of 32'),
    ('negative', '[-32, 640]: width and height must be positive multiples of 32'),
    ('odd', '[640, 500]: width and height must be positive multiples of 32'),
    ('one', '[640]: expected (w, h), two integers'),
])
def test_bad_input_shapes(files, monkeypatch, tmp_path, which, problem):
    msg = _run(monkeypatch, tmp_path, files[which], CFG_N, files['ckpt'], files['img'])
    assert msg == f'error: {files[which]}: onnx_config.input_shape {problem}'


def test_out_dir_is_the_work_dir(files, tmp_path, capsys):
    assert _tool().parse_args(['d.py', 'm.py', 'c.pth', 'i.jpg', '--out-dir', 'x']).work_dir == 'x'
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    with pytest.raises(SystemExit) as err:
        _tool().main([DEPLOY_CFG, CFG_N, files['ckpt'], files['img'], '--out-dir', str(a_file)])
    assert err.value.code == 2
    assert capsys.readouterr().err.strip() == (f'error: --work-dir {a_file}: exists and is '
                                               'not a directory')


def test_missing_file_is_refused_before_any_import(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        _tool().main([DEPLOY_CFG, CFG_N, str(tmp_path / 'nope.pth'), str(tmp_path / 'i.jpg')])
    assert err.value.code == 2
    assert capsys.readouterr().err.strip() == f'error: checkpoint not found: {tmp_path}/nope.pth'


def test_work_dir_that_is_a_file_or_holds_an_earlier_export(files, monkeypatch, tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files['img'],
               work_dir=str(a_file))
    assert msg == f'error: --work-dir {a_file}: exists and is not a directory'
    out = tmp_path / 'earlier'
    out.mkdir()
    (out / 'end2end.onnx').write_bytes(b'an earlier export')
    (out / 'output_pytorch.jpg').write_bytes(b'')
    msg = _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files['img'],
               work_dir=str(out))
    assert msg == (f'error: {out / "end2end.onnx"} already exists (and 1 more); pass '
                   '--overwrite to replace the earlier export or choose another --work-dir')
    assert _run(monkeypatch, tmp_path, DEPLOY_CFG, CFG_N, files['ckpt'], files['img'],
                '--overwrite', work_dir=str(out)) == PASSED
    assert (out / 'end2end.onnx').read_bytes() == b'an earlier export'  # checks only


@pytest.mark.slow
def test_export_onnx_takes_the_config_input_size(tmp_path, capsys):
    """export_onnx without input_size exports at the size the config tests at (256 for the
    synthetic config), graph and metadata alike; bad sizes are one-line errors."""
    import json

    import onnx

    from erpose_mm.deploy.export import export_onnx, main
    path = export_onnx(CFG_256, None, str(tmp_path / 'n256.onnx'))
    model = onnx.load(path)
    meta = json.loads({p.key: p.value for p in model.metadata_props}['erpose'])
    assert meta['input_size'] == [256, 256]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 256, 256]
    for size in ((0, 0), (-32, 64), (640, )):
        with pytest.raises(ValueError, match=r'^export_onnx: input_size \(') as err:
            export_onnx(CFG_256, None, str(tmp_path / 'bad.onnx'), input_size=size)
        assert '\n' not in str(err.value)
    assert main([CFG_256, 'none', str(tmp_path / 'bad.onnx'), '--input-size', '0']) == 2
    assert capsys.readouterr().err == ('error: --input-size (0, 0): width and height must be '
                                       'positive multiples of 32\n')
    assert not (tmp_path / 'bad.onnx').exists()
