"""fp16 ONNX export (``export_onnx(..., fp16=True)``, ``erpose_mm.deploy.fp16``) and its
parity with the fp32 export, run by ONNX Runtime's CPU provider (which runs float16 graphs,
slowly, so the check needs no GPU).

Tolerance (generated 480x360 image, ER-Pose-n at 320x320, seeded random weights calibrated
on that image): keypoints within 1.0 px, scores within 0.01 of the fp32 file. float16
keeps 11 significant bits (relative rounding 2^-11 = 4.9e-4 per stored activation and
weight); over the ~60 layers of the network this moves the head's offsets by about 1e-3 of
their stride-16/32 scale: measured here 0.37 px max (0.12 px median) and 0.005 in score.
The bounds leave a ~2.5x margin for other CPUs / ORT kernels and are still far below what a
wrong conversion gives (a swapped or unconverted tensor moves keypoints by many pixels or
fails to load). That the decode stays float32 (no float16 rounding of coordinates) is
checked on the graph itself.
"""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

from erpose_mm.datasets.synthetic.demo import write_demo_image  # noqa: E402
from erpose_mm.deploy.export import export_onnx  # noqa: E402
from erpose_mm.testing import make_random_checkpoint  # noqa: E402
from erpose_mm.deploy.fp16 import FLOAT, FLOAT16, convert_onnx_to_fp16  # noqa: E402

CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
KPT_TOL = 1.0     # px in the original image (see the module docstring)
SCORE_TOL = 0.01
SHOW_THR = 0.3    # people compared: fp32 score above this


def load_runner():
    from erpose_mm.runtime import onnx_runner
    return onnx_runner


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    work = tmp_path_factory.mktemp('fp16')
    img = str(work / 'people.jpg')
    write_demo_image(img, width=480, height=360, seed=0, num_people=3)
    ckpt = make_random_checkpoint(CFG_N, str(work / 'n.pth'), seed=0, calib_images=[img],
                                  calib_sizes=(320, ))
    f32 = export_onnx(CFG_N, ckpt, str(work / 'n32.onnx'), input_size=(320, 320),
                      score_thr=0.0)
    f16 = export_onnx(CFG_N, ckpt, str(work / 'n16.onnx'), input_size=(320, 320),
                      score_thr=0.0, fp16=True)
    return dict(work=work, img=img, ckpt=ckpt, f32=f32, f16=f16)


def test_fp16_keypoints_match_fp32(files):
    runner = load_runner()
    fp32 = runner.ERPoseONNX(files['f32'], score_thr=0.05)(files['img'])
    fp16 = runner.ERPoseONNX(files['f16'], score_thr=0.05)(files['img'])
    shown = [p for p in fp32 if p['bbox_score'] > SHOW_THR]
    assert len(shown) >= 3, 'random weights should give several confident people here'
    k16 = np.array([p['keypoints'] for p in fp16])
    s16 = np.array([p['bbox_score'] for p in fp16])
    kpt_err, score_err = [], []
    for person in shown:
        # top-k order can swap between near-equal scores: match by keypoints
        dist = np.abs(k16 - np.asarray(person['keypoints'])).max(axis=(1, 2))
        j = int(dist.argmin())
        kpt_err.append(dist[j])
        score_err.append(abs(s16[j] - person['bbox_score']))
    assert max(kpt_err) < KPT_TOL, f'fp16 keypoints off by {max(kpt_err):.3f} px'
    assert max(score_err) < SCORE_TOL, f'fp16 scores off by {max(score_err):.4f}'
    # not trivially equal: the fp16 file really computes in float16
    assert max(kpt_err) > 0


def test_fp16_graph_halves_weights_keeps_io_and_decode_float32(files):
    m32, m16 = onnx.load(files['f32']), onnx.load(files['f16'])
    assert all(t.data_type == FLOAT for t in m32.graph.initializer if t.dims)
    weights16 = [t for t in m16.graph.initializer if t.data_type == FLOAT16]
    weights32 = [t for t in m16.graph.initializer if t.data_type == FLOAT and t.dims]
    assert len(weights16) > 50 and not weights32
    assert osp.getsize(files['f16']) < 0.6 * osp.getsize(files['f32'])
    for value in list(m16.graph.input) + list(m16.graph.output):
        assert value.type.tensor_type.elem_type == FLOAT, value.name
    inferred = onnx.shape_inference.infer_shapes(m16)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    topk = next(n for n in m16.graph.node if n.op_type == 'TopK')
    assert types[topk.input[0]] == FLOAT, 'the decode (top-k of scores) must stay float32'
    convs = [n for n in m16.graph.node if n.op_type == 'Conv']
    assert all(types[c.output[0]] == FLOAT16 for c in convs)
    meta = json.loads({p.key: p.value for p in m16.metadata_props}['erpose'])
    assert meta['precision'] == 'fp16' and meta['input_size'] == [320, 320]
    sess = ort.InferenceSession(files['f16'], providers=['CPUExecutionProvider'])
    dets, kpts = sess.run(None, {'input': np.zeros((1, 3, 320, 320), np.float32)})
    assert dets.dtype == np.float32 and kpts.dtype == np.float32
    assert dets.shape == (1, 100, 5) and kpts.shape == (1, 100, 17, 3)


def test_fp16_conversion_refuses_bad_input(files, tmp_path):
    with pytest.raises(ValueError, match='already holds float16'):
        convert_onnx_to_fp16(files['f16'], str(tmp_path / 'twice.onnx'))
    with pytest.raises(FileNotFoundError, match='missing.onnx'):
        convert_onnx_to_fp16(str(tmp_path / 'missing.onnx'))


def test_export_cli_fp16_flag(files, tmp_path):
    out = tmp_path / 'cli16.onnx'
    cmd = [sys.executable, '-m', 'erpose_mm.deploy.export', CFG_N, files['ckpt'], str(out),
           '--input-size', '320', '--fp16']
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'wrote' in res.stdout and '(fp16)' in res.stdout
    model = onnx.load(str(out))
    assert any(t.data_type == FLOAT16 for t in model.graph.initializer)
    # an existing file is never overwritten
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == f'error: {out}: exists; not overwritten'


@pytest.mark.skipif(importlib.util.find_spec('mmdeploy') is None,
                    reason='mmdeploy is not installed')
def test_deploy_tool_ort_fp16_config(files, tmp_path):
    cfg = osp.join(REPO, 'configs/deploy/pose-detection_erpose_onnxruntime-fp16_dynamic.py')
    res = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/deploy.py'), cfg, CFG_N, files['ckpt'],
         files['img'], '--work-dir', str(tmp_path), '--device', 'cpu', '--skip-visualize'],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    model = onnx.load(str(tmp_path / 'end2end.onnx'))
    assert any(t.data_type == FLOAT16 for t in model.graph.initializer)
    assert all(v.type.tensor_type.elem_type == FLOAT for v in model.graph.output)
    meta = json.loads({p.key: p.value for p in model.metadata_props}['erpose'])
    assert meta['precision'] == 'fp16' and meta['dynamic'] is True
