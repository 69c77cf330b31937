"""Export (plain torch.onnx and MMDeploy), ONNX Runtime parity, dynamic shapes, and the
torch-free ONNX runner (incl. bad inputs).

Random weights (``make_random_checkpoint``: non-degenerate scores / keypoints), small
inputs where the requirement allows. Parity: same preprocessed input through PyTorch (the
deploy-mode model, i.e. what is exported) and ONNX Runtime.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

from bad_inputs import (BAD_INPUT_CASES, make_bad_inputs,  # noqa: E402
                        run_onnx_tool_without_torch)
import erpose_mm  # noqa: E402,F401
from erpose_mm.deploy.export import build_model, export_onnx  # noqa: E402
from erpose_mm.testing import make_random_checkpoint  # noqa: E402

CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
CFG_S = osp.join(REPO, 'configs/erpose/erpose-s_coco-640.py')
KPT_TOL = 1e-3    # px
SCORE_TOL = 1e-4

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')
needs_mmdeploy = pytest.mark.skipif(importlib.util.find_spec('mmdeploy') is None,
                                    reason='mmdeploy is not installed')


from erpose_mm.runtime import cli as cli_mod  # noqa: E402
from erpose_mm.runtime import onnx_runner as runner_mod  # noqa: E402


def random_ckpt(cfg, path, seed, demo_images):
    """Random weights calibrated on the demo images (unsaturated, distinct scores)."""
    return make_random_checkpoint(cfg, path, seed=seed, calib_images=demo_images.imgs,
                                  calib_sizes=(320, ))


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('deploy')


@pytest.fixture(scope='module')
def ckpt_n(work, demo_images):
    return random_ckpt(CFG_N, str(work / 'n.pth'), seed=0, demo_images=demo_images)


@pytest.fixture(scope='module')
def model_n(ckpt_n):
    return build_model(CFG_N, ckpt_n)


@pytest.fixture(scope='module')
def onnx_n320(work, ckpt_n):
    return export_onnx(CFG_N, ckpt_n, str(work / 'n320.onnx'), input_size=(320, 320),
                       score_thr=0.0, max_per_img=100)


def preprocessed(model, img_path, size):
    """The real MMPose test pipeline + data preprocessor at ``size`` -> (1,3,H,W)."""
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    pipeline = []
    for t in model.cfg.test_dataloader.dataset.pipeline:
        t = dict(t)
        if t['type'] == 'BottomupResize':
            t['input_size'] = (size, size)
        pipeline.append(t)
    from mmpose.registry import TRANSFORMS
    pipe = Compose([TRANSFORMS.build(t) for t in pipeline])
    data = pseudo_collate([pipe(dict(img_path=img_path))])
    return model.data_preprocessor(data, False)['inputs']


def torch_results(model, x, score_thr, max_per_img):
    """The PyTorch predict path (decode + select_topk), per image."""
    with torch.no_grad():
        outs = model.head.decode(model.head(model.extract_feat(x)))
        return model.head.select_topk(outs, score_thr, max_per_img)


def compare(dets, kpts, res):
    """ORT rows with score > 0 vs PyTorch results of one image; rows are matched by
    score (robust to swaps of near-equal scores). Returns (max kpt px, max score) diffs."""
    keep = dets[:, 4] > 0
    dets, kpts = dets[keep], kpts[keep]
    t_scores = res['scores'].numpy()
    t_kpts = res['keypoints'].numpy()
    t_kscores = res['keypoint_scores'].numpy()
    assert len(dets) == len(t_scores), (len(dets), len(t_scores))
    kd = sd = 0.0
    for i in range(len(dets)):
        cand = np.nonzero(np.abs(t_scores - dets[i, 4]) < SCORE_TOL)[0]
        assert len(cand), f'row {i}: score {dets[i, 4]} has no PyTorch counterpart'
        d = [np.abs(t_kpts[j] - kpts[i, :, :2]).max() for j in cand]
        j = cand[int(np.argmin(d))]
        kd = max(kd, float(np.min(d)))
        sd = max(sd, float(abs(t_scores[j] - dets[i, 4])),
                 float(np.abs(t_kscores[j] - kpts[i, :, 2]).max()))
        # the box is derived from the keypoints
        np.testing.assert_allclose(dets[i, :2], kpts[i, :, :2].min(0), atol=1e-4)
        np.testing.assert_allclose(dets[i, 2:4], kpts[i, :, :2].max(0), atol=1e-4)
    return kd, sd


def run_ort(path, x):
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    assert names == ['dets', 'keypoints']
    return sess.run(None, {'input': x.numpy()})


def test_export_graph(onnx_n320):
    m = onnx.load(onnx_n320)
    ops = {n.op_type for n in m.graph.node}
    assert 'NonMaxSuppression' not in ops and 'TopK' in ops
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim]
              for o in m.graph.output}
    assert shapes == {'dets': [1, 100, 5], 'keypoints': [1, 100, 17, 3]}
    meta = json.loads({p.key: p.value for p in m.metadata_props}['erpose'])
    assert meta['input_size'] == [320, 320] and meta['bgr_to_rgb'] is True
    assert meta['std'] == [255.0] * 3 and meta['resize']['pad_val'] == [114.0] * 3
    assert len(meta['skeleton_links']) == 19
    # no one-to-many (MAH) weights in the deployed graph
    assert not any('one2many' in i.name for i in m.graph.initializer)


@pytest.mark.parametrize('cfg', ['n', 's'])
def test_ort_parity(cfg, work, ckpt_n, model_n, onnx_n320, demo_images):
    if cfg == 'n':
        ckpt, model, path = ckpt_n, model_n, onnx_n320
    else:
        ckpt = random_ckpt(CFG_S, str(work / 's.pth'), seed=1, demo_images=demo_images)
        model = build_model(CFG_S, ckpt)
        path = export_onnx(CFG_S, ckpt, str(work / 's320.onnx'), input_size=(320, 320),
                           score_thr=0.0)
    x = preprocessed(model, demo_images.img, 320)
    assert x.shape == (1, 3, 320, 320)
    dets, kpts = run_ort(path, x)
    kd, sd = compare(dets[0], kpts[0], torch_results(model, x, 0.0, 100)[0])
    print(f'\n[parity {cfg} 320] max |dkpt| = {kd:.2e} px, max |dscore| = {sd:.2e}')
    assert kd < KPT_TOL and sd < SCORE_TOL


def test_dynamic_export_runs_800_and_score_thr(work, ckpt_n, model_n, demo_images):
    """A 640 export with dynamic axes runs on 800x800 (batch 2) and on inputs with fewer
    candidates than max_per_img; rows at or below score_thr are padding with score 0."""
    thr = 0.75
    path = export_onnx(CFG_N, ckpt_n, str(work / 'n_dyn.onnx'), input_size=(640, 640),
                       dynamic=True, score_thr=thr, max_per_img=100)
    inp = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in inp] == ['batch', 3, 'height', 'width']
    x = torch.cat([preprocessed(model_n, demo_images.img, 800),
                   preprocessed(model_n, demo_images.frame, 800)])
    assert x.shape == (2, 3, 800, 800)
    dets, kpts = run_ort(path, x)
    assert dets.shape == (2, 100, 5) and kpts.shape == (2, 100, 17, 3)
    res = torch_results(model_n, x, thr, 100)
    for b in range(2):
        s = dets[b, :, 4]
        valid = s > 0
        assert valid.any() and not valid.all()
        assert np.all(np.diff(valid.astype(int)) <= 0), 'valid rows must come first'
        assert np.all(s[valid] > thr) and np.all(kpts[b, ~valid, :, 2] == 0)
        kd, sd = compare(dets[b], kpts[b], res[b])
        print(f'\n[dynamic 640->800 img{b}] max |dkpt| = {kd:.2e} px, max |dscore| = {sd:.2e}')
        assert kd < KPT_TOL and sd < SCORE_TOL
    # tiny input: 4x6 + 2x3 = 30 candidates < max_per_img -> the other rows are padding
    small = torch.nn.functional.interpolate(x[:1], size=(64, 96), mode='bilinear')
    d, k = run_ort(path, small)
    assert d.shape == (1, 100, 5) and k.shape == (1, 100, 17, 3)
    assert np.all(d[0, 30:, 4] == 0) and np.all(k[0, 30:, :, 2] == 0)
    with torch.no_grad():
        outs = model_n.head.decode(model_n.head(model_n.extract_feat(small)))
    kd, sd = compare(d[0], k[0], model_n.head.select_topk(outs, thr, 100)[0])
    assert kd < KPT_TOL and sd < SCORE_TOL


@needs_mmdeploy
def test_mmdeploy_tool_static(work, ckpt_n, model_n, demo_images):
    """`python tools/deploy.py DEPLOY_CFG MODEL_CFG CKPT IMG --work-dir DIR --device cpu`."""
    out = work / 'mmdeploy_static'
    cmd = [sys.executable, osp.join(REPO, 'tools/deploy.py'),
           osp.join(REPO, 'configs/deploy/pose-detection_erpose_onnxruntime_static-640x640.py'),
           CFG_N, ckpt_n, demo_images.img, '--work-dir', str(out), '--device', 'cpu']
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    path = str(out / 'end2end.onnx')
    for f in ('end2end.onnx', 'output_onnxruntime.jpg', 'output_pytorch.jpg'):
        assert (out / f).is_file(), f
    m = onnx.load(path)
    assert 'NonMaxSuppression' not in {n.op_type for n in m.graph.node}
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim]
              for o in m.graph.output}
    assert shapes == {'dets': [1, 100, 5], 'keypoints': [1, 100, 17, 3]}
    x = preprocessed(model_n, demo_images.img, 640)
    dets, kpts = run_ort(path, x)
    # the deploy config's score_threshold (0.01) and keep_top_k (100)
    kd, sd = compare(dets[0], kpts[0], torch_results(model_n, x, 0.01, 100)[0])
    print(f'\n[mmdeploy static 640] max |dkpt| = {kd:.2e} px, max |dscore| = {sd:.2e}')
    assert kd < KPT_TOL and sd < SCORE_TOL


def _deploy_tool():
    from tools import deploy
    return deploy


@needs_mmdeploy
def test_mmdeploy_tool_dynamic(work, ckpt_n, model_n, demo_images):
    out = work / 'mmdeploy_dynamic'
    _deploy_tool().main([
        osp.join(REPO, 'configs/deploy/pose-detection_erpose_onnxruntime_dynamic.py'),
        CFG_N, ckpt_n, demo_images.img, '--work-dir', str(out), '--skip-visualize'])
    x = preprocessed(model_n, demo_images.img, 800)
    dets, kpts = run_ort(str(out / 'end2end.onnx'), x)
    kd, sd = compare(dets[0], kpts[0], torch_results(model_n, x, 0.01, 100)[0])
    print(f'\n[mmdeploy dynamic 640->800] max |dkpt| = {kd:.2e} px, max |dscore| = {sd:.2e}')
    assert kd < KPT_TOL and sd < SCORE_TOL


@needs_mmdeploy
def test_mmdeploy_tensorrt_cfg(work, ckpt_n, demo_images, capsys):
    """The TensorRT config is well-formed for MMDeploy; building an engine needs a GPU
    and TensorRT (not here): the tool says so before exporting."""
    from mmdeploy.utils import (get_backend, get_input_shape, get_ir_config,
                                get_model_inputs, load_config)
    path = osp.join(REPO, 'configs/deploy/pose-detection_erpose_tensorrt_static-640x640.py')
    cfg = load_config(path)[0]
    assert get_backend(cfg).value == 'tensorrt' and get_input_shape(cfg) == [640, 640]
    assert get_ir_config(cfg).output_names == ['dets', 'keypoints']
    shapes = get_model_inputs(cfg)[0]['input_shapes']['input']
    assert shapes['opt_shape'] == [1, 3, 640, 640]
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        _deploy_tool().main([path, CFG_N, ckpt_n, demo_images.img,
                             '--work-dir', str(work / 'trt'), '--device', 'cpu'])
    assert err.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f'error: the TensorRT backend ({path}) needs a GPU: --device cuda:0 '
                    '(got --device cpu)')


@needs_mmdeploy
def test_import_is_lazy_and_rewriters_register_explicitly():
    code = ('import sys, erpose_mm\n'
            "assert 'mmdeploy' not in sys.modules, 'import erpose_mm imported mmdeploy'\n"
            'from mmdeploy.core import FUNCTION_REWRITER\n'
            "assert 'erpose_mm.deploy.rewriters' not in sys.modules, 'an import hook ran'\n"
            'from erpose_mm.deploy import register_mmdeploy_rewriters\n'
            'assert register_mmdeploy_rewriters()\n'
            'rec = FUNCTION_REWRITER._registry._rewrite_records\n'
            "assert 'erpose_mm.models.heads.erpose_head.ERPoseHead.forward' in rec, list(rec)[:5]\n"
            "assert 'torch.onnx.export' in rec\n"
            "print('ok')\n")
    p = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and 'ok' in p.stdout, p.stderr[-3000:]


# ----------------------------------------------------------------------------- runner
def test_runner_cli_without_torch(work, onnx_n320, demo_images):
    out = work / 'runner_out'
    run_onnx_tool_without_torch([onnx_n320, demo_images.dir, '--out-dir', str(out),
                                 '--score-thr', '0.5'])
    names = sorted(os.listdir(demo_images.dir))
    for n in names:
        # outputs keep the input's file name (a.jpg and a.png do not collide)
        assert (out / 'visualizations' / n).is_file()
        preds = json.loads((out / 'predictions' / f'{n}.json').read_text())
        assert preds and set(preds[0]) == {'keypoints', 'keypoint_scores', 'bbox', 'bbox_score'}
        assert all(p['bbox_score'] > 0.5 for p in preds)
        h, w = cv2.imread(osp.join(demo_images.dir, n)).shape[:2]
        for p in preds:
            k = np.array(p['keypoints'])
            assert k.shape == (17, 2)
            (x1, y1, x2, y2), = p['bbox']  # MMPoseInferencer's JSON format
            assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
            # box = keypoint extent clipped to the image
            np.testing.assert_allclose([x1, y1], np.clip(k.min(0), 0, [w, h]), atol=1e-3)
            np.testing.assert_allclose([x2, y2], np.clip(k.max(0), 0, [w, h]), atol=1e-3)


def test_runner_preprocess_matches_mmpose(model_n, onnx_n320, demo_images):
    """Letterbox + normalisation identical to BottomupResize + PoseDataPreprocessor
    (padding centred, not top-left), for portrait and landscape images."""
    r = runner_mod.ERPoseONNX(onnx_n320)
    for name in ('human-pose.jpeg', 'demo_mp4_frame000.jpg'):
        path = osp.join(demo_images.dir, name)
        ref = preprocessed(model_n, path, 320).numpy()
        x, info = r.preprocess(runner_mod.read_image(path))
        assert x.shape == ref.shape
        assert np.abs(x - ref).max() < 1e-6, name
        # padding split on both sides of the short dimension
        img = cv2.imread(path)
        h, w = img.shape[:2]
        col = x[0, 0, :, :]
        if h > w:
            pad_cols = np.where(np.all(np.abs(col - 114 / 255) < 1e-6, axis=0))[0]
            assert pad_cols.min() == 0 and pad_cols.max() == 319


@pytest.fixture(scope='module')
def bad_inputs(work, demo_images):
    return make_bad_inputs(work / 'bad', demo_images.img)


@pytest.mark.parametrize('name,msg', BAD_INPUT_CASES)
def test_runner_cli_bad_input(name, msg, bad_inputs, onnx_n320, capsys):
    path = str(bad_inputs / name)
    rc = cli_mod.onnx_main([onnx_n320, path, '--out-dir', str(bad_inputs / 'out')])
    err = capsys.readouterr().err
    assert rc == 2
    assert path in err and msg in err, err
    assert 'Traceback' not in err


def test_runner_cli_missing_model(bad_inputs, capsys, demo_images):
    rc = cli_mod.onnx_main([str(bad_inputs / 'nope.onnx'), demo_images.img])
    err = capsys.readouterr().err
    assert rc == 2 and 'nope.onnx' in err and 'not found' in err


def test_runner_mixed_folder_skips_bad_files(bad_inputs, onnx_n320, capsys):
    out = bad_inputs / 'out_mixed'
    rc = cli_mod.onnx_main([onnx_n320, str(bad_inputs / 'mixed'), '--out-dir', str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    assert str(bad_inputs / 'mixed' / 'b.jpg') in err and 'readme' not in err
    assert sorted(os.listdir(out / 'predictions')) == ['a.jpg.json']


def test_runner_image_conversions(bad_inputs, onnx_n320):
    """grayscale / RGBA / 16-bit -> 8-bit BGR (same poses as the equivalent 8-bit BGR
    image); 1x1 and very large images work; arrays are converted the same way."""
    r = runner_mod.ERPoseONNX(onnx_n320, score_thr=0.3)

    def kp(res):
        return np.array([p['keypoints'] for p in res])

    ref = r(str(bad_inputs / 'bgr.png'))
    assert len(ref)
    for name in ('rgba.png', 'img16.png'):
        res = r(str(bad_inputs / name))
        assert len(res) == len(ref) and np.abs(kp(res) - kp(ref)).max() < 1e-3, name
    gray_ref = r(str(bad_inputs / 'gray_as_bgr.png'))
    res = r(str(bad_inputs / 'gray.png'))
    assert len(res) == len(gray_ref) and np.abs(kp(res) - kp(gray_ref)).max() < 1e-3
    # numpy inputs: gray 2-D, BGRA, uint16, float
    img = cv2.imread(str(bad_inputs / 'bgr.png'))
    for arr in (np.dstack([img, np.zeros(img.shape[:2], np.uint8)]),
                img.astype(np.uint16) * 257, img.astype(np.float32) / 255):
        res = r(arr)
        assert len(res) == len(ref) and np.abs(kp(res) - kp(ref)).max() < 1e-2
    assert len(r(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))) == len(gray_ref)
    # 1x1 (letterboxed into the whole 320x320 input: 1 px = 320 input px) and 4000x6000
    every = runner_mod.ERPoseONNX(onnx_n320, score_thr=0.0)
    one = every(str(bad_inputs / 'one.png'))
    assert len(one) == 100                      # every exported candidate, mapped back
    same = every(np.full((1, 1, 3), 200, np.uint8))
    assert np.abs(kp(one) - kp(same)).max() < 1e-6
    for p in one:
        x1, y1, x2, y2 = p['bbox']
        assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1
    # in 1x1-image pixels: the input's 320 px span one pixel (plus what lies in the padding)
    assert np.abs(kp(one)).max() < 3
    big = r(str(bad_inputs / 'big.jpg'))
    assert len(big)
    for p in big:
        x1, y1, x2, y2 = p['bbox']
        assert 0 <= x1 <= x2 <= 4000 and 0 <= y1 <= y2 <= 6000
    with pytest.raises(runner_mod.InputError, match='not an image array'):
        r(np.zeros((0, 5, 3), np.uint8))
