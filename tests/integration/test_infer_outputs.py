"""tools/infer.py (PyTorch) and tools/onnx_infer.py (ONNX Runtime) as one surface, what they
write and refuse, and the Python API: one threshold and one JSON schema for both tools,
unique output names, no silent overwrite, truncated videos, the device errors, the MMPose
model alias, the Python one-liner and the ONNX tool without torch. Random-weight ER-Pose-n
(synthetic 256 config) on generated images: no data needed.
"""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import erpose_mm  # noqa: F401
from bad_inputs import run_onnx_tool_without_torch
from erpose_mm.runtime import cli as cli_mod
from infer_tools_common import (ALIAS, CFG, ckpt, images, onnx_dyn, read_json,  # noqa: F401
                                synthetic_image, video, work)
from tools import infer as infer_tool
from tools import onnx_infer as onnx_tool

ort = pytest.importorskip('onnxruntime')


# ----------------------------------------------------------------------------- one surface
def test_both_tools_same_schema_and_threshold(onnx_dyn, ckpt, images, work):
    f = str(images / 'im0.jpg')
    outs = {}
    for name, tool, model in (('torch', infer_tool, [CFG, ckpt]),
                              ('onnx', onnx_tool, [onnx_dyn])):
        out = work / f'schema_{name}'
        assert tool.main(model + [f, '--out-dir', str(out), '--track']) == 0
        outs[name] = read_json(out / 'predictions' / 'im0.jpg.json')
    for name, people in outs.items():
        assert people, name
        for p in people:
            assert set(p) == {'keypoints', 'keypoint_scores', 'bbox', 'bbox_score', 'track_id'}
            assert np.shape(p['bbox']) == (1, 4) and np.shape(p['keypoints']) == (17, 2)
            assert isinstance(p['bbox_score'], float) and p['bbox_score'] > 0.3
    # same checkpoint, same default threshold: (nearly) the same people
    assert abs(len(outs['torch']) - len(outs['onnx'])) <= 1
    kt = np.array(sorted(p['bbox_score'] for p in outs['torch']))
    ko = np.array(sorted(p['bbox_score'] for p in outs['onnx']))
    n = min(len(kt), len(ko))
    assert np.abs(kt[-n:] - ko[-n:]).max() < 1e-3
    ta = infer_tool.parse_args([CFG, ckpt, f])
    oa = cli_mod.build_onnx_parser().parse_args([onnx_dyn, f])
    assert ta.score_thr == oa.score_thr == 0.3


# ----------------------------------------------------------------------------- outputs
def test_same_stem_different_extension(onnx_dyn, work):
    d = work / 'stems'
    d.mkdir()
    cv2.imwrite(str(d / 'person.jpg'), synthetic_image(1))
    cv2.imwrite(str(d / 'person.png'), synthetic_image(2, 240, 320))
    out = work / 'stems_out'
    assert onnx_tool.main([onnx_dyn, str(d), '--out-dir', str(out), '--score-thr', '0.1']) == 0
    assert sorted(os.listdir(out / 'predictions')) == ['person.jpg.json', 'person.png.json']
    assert sorted(os.listdir(out / 'visualizations')) == ['person.jpg', 'person.png']
    assert cv2.imread(str(out / 'visualizations' / 'person.png')).shape[:2] == (320, 240)


def test_never_overwrites_silently(onnx_dyn, ckpt, images, work, capsys):
    for name, tool, model in (('onnx', onnx_tool, [onnx_dyn]),
                              ('torch', infer_tool, [CFG, ckpt])):
        out = work / f'again_{name}'
        assert tool.main(model + [str(images), '--out-dir', str(out)]) == 0
        js = out / 'predictions' / 'im1.jpg.json'
        js.write_text('[]')                      # a result the user edited
        capsys.readouterr()
        assert tool.main(model + [str(images), '--out-dir', str(out)]) == 2
        err = capsys.readouterr().err
        assert 'already exists' in err and '--overwrite' in err and str(out) in err
        assert len(err.strip().splitlines()) == 1
        assert js.read_text() == '[]'
        assert tool.main(model + [str(images), '--out-dir', str(out), '--overwrite']) == 0
        assert js.read_text() != '[]'


def test_truncated_video_says_how_many_frames(onnx_dyn, work, capsys):
    path = str(work / 'full.avi')
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (160, 120))
    for i in range(20):
        vw.write(synthetic_image(i, 160, 120))
    vw.release()
    data = open(path, 'rb').read()
    cut = str(work / 'cut.avi')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    rc = onnx_tool.main([onnx_dyn, cut, '--out-dir', str(work / 'cut_out')])
    cap = capsys.readouterr()
    frames = read_json(work / 'cut_out' / 'predictions' / 'cut.avi.json')
    assert rc == 0 and 0 < len(frames) < 20
    assert f'ended after {len(frames)} of 20 frames' in cap.err and cut in cap.err


# ----------------------------------------------------------------------------- devices
def test_cuda_errors_are_one_line(onnx_dyn, ckpt, images, capsys, monkeypatch):
    from erpose_mm.deploy import DeviceError, ERPoseONNX
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        assert onnx_tool.main([onnx_dyn, str(images), '--device', 'cuda']) == 2
        err = capsys.readouterr().err
        assert 'CUDAExecutionProvider' in err and 'onnxruntime-gpu' in err
        assert len(err.strip().splitlines()) == 1
        with pytest.raises(DeviceError, match='no CUDAExecutionProvider'):
            ERPoseONNX(onnx_dyn, providers=['CUDAExecutionProvider', 'CPUExecutionProvider'])
    import torch
    if not torch.cuda.is_available():
        assert infer_tool.main([CFG, ckpt, str(images), '--device', 'cuda']) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: --device cuda:') and 'Traceback' not in err
        assert len(err.strip().splitlines()) == 1
    assert onnx_tool.main([onnx_dyn, str(images), '--device', 'tpu']) == 2
    assert 'expected cpu, cuda or cuda:N' in capsys.readouterr().err
    # ONNX Runtime lists CUDA but cannot start it (no CUDA libraries): refuse, do not
    # fall back to the CPU silently
    monkeypatch.setattr(ort, 'get_available_providers',
                        lambda: ['CUDAExecutionProvider', 'CPUExecutionProvider'])
    with pytest.raises(DeviceError, match='could not start CUDAExecutionProvider'):
        ERPoseONNX(onnx_dyn, device='cuda')


def test_cpu_providers_list(onnx_dyn):
    from erpose_mm.deploy import ERPoseONNX
    r = ERPoseONNX(onnx_dyn, providers=['CPUExecutionProvider'])
    assert r.session.get_providers() == ['CPUExecutionProvider']


# ----------------------------------------------------------------------------- API
def test_mmpose_alias(ckpt, images):
    from mmpose.apis import MMPoseInferencer
    inf = MMPoseInferencer(pose2d=ALIAS, pose2d_weights=ckpt, device='cpu')
    assert inf.inferencer.cfg.filename.endswith('erpose-n_synthetic-256.py')
    preds = [p for r in inf(str(images / 'im0.jpg')) for p in r['predictions']]
    assert len(preds) == 1
    inf = MMPoseInferencer(pose2d='erpose-n', pose2d_weights=ckpt, device='cpu')
    assert inf.inferencer.cfg.filename.endswith('erpose-n_coco-640.py')
    with pytest.raises(ValueError, match='pose2d_weights'):
        MMPoseInferencer(pose2d='erpose-s', device='cpu')
    with pytest.raises(ValueError, match='Cannot find model: erpose-x'):
        MMPoseInferencer(pose2d='erpose-x', pose2d_weights=ckpt, device='cpu')


def test_python_one_liner_without_path_tricks(onnx_dyn, images, tmp_path):
    code = ('from erpose_mm.deploy import ERPoseONNX; '
            f'people = ERPoseONNX({onnx_dyn!r})({str(images / "im0.jpg")!r}); '
            "print(len(people), sorted(people[0]) if people else '')")
    env = dict(os.environ, PYTHONPATH='')
    p = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "['bbox', 'bbox_score', 'keypoint_scores', 'keypoints']" in p.stdout


def test_onnx_tool_video_track_without_torch(onnx_dyn, video, work):
    out = work / 'notorch'
    run_onnx_tool_without_torch([onnx_dyn, video, '--out-dir', str(out), '--track',
                                 '--batch-size', '2'])
    frames = read_json(out / 'predictions' / 'walk.avi.json')
    assert len(frames) == 10 and any(f['instances'] for f in frames)
