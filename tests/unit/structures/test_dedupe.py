"""The optional parallel OKS dedupe over the one-to-one head's top-k
(erpose_mm/structures/dedupe.py): semantics, the head wiring, the ONNX export (fixed
shapes, no NMS / Loop node, ORT = PyTorch), the numpy twin of the runner, the config and
MMDeploy plumbing.
"""
import importlib.util
import json
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import erpose_mm  # noqa: E402,F401
from erpose_mm.runtime import constants  # noqa: E402
from erpose_mm.deploy.export import build_model, export_onnx  # noqa: E402
from erpose_mm.testing import make_random_checkpoint  # noqa: E402
from erpose_mm.structures import (candidate_oks, decode_settings, dedupe_keep,  # noqa: E402
                                  dedupe_setting, dedupe_topk, keypoints_to_bboxes)

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
DEDUPE_CFG = osp.join(REPO, 'configs/deploy/'
                      'pose-detection_erpose_onnxruntime_static-640x640_dedupe.py')
COCO_SIGMAS = torch.tensor(constants.COCO_SIGMAS)
SIZE = 256


from erpose_mm.runtime import onnx_runner as runner_mod  # noqa: E402


def pose(cx, cy, h=60.0, seed=0):
    """(K, 2) a person-sized random pose around (cx, cy)."""
    g = torch.Generator().manual_seed(seed)
    return torch.tensor([cx, cy]) + (torch.rand(17, 2, generator=g) - 0.5) * torch.tensor(
        [h * 0.5, h])


def make_top(poses, scores, valid=None):
    kpts = torch.stack(poses)[None]
    s = torch.tensor(scores)[None]
    return dict(scores=s, keypoints=kpts, keypoint_scores=torch.ones(1, len(poses), 17),
                bboxes=keypoints_to_bboxes(kpts),
                valid=s > 0.01 if valid is None else torch.tensor(valid)[None])


def greedy_keep(oks, valid, thr):
    """Sequential OKS-NMS on the same matrix (the reference the parallel pass differs from)."""
    keep = []
    for j in range(oks.shape[0]):
        if valid[j] and not any(oks[i, j] > thr for i in keep):
            keep.append(j)
    return keep


# ----------------------------------------------------------------------------- semantics
def test_duplicate_dropped_distinct_kept():
    a = pose(100, 100)
    top = make_top([a, pose(200, 120, seed=1), a + 0.7, torch.zeros(17, 2)],
                   [0.9, 0.8, 0.7, 0.0])
    out = dedupe_topk(top, COCO_SIGMAS, 0.8)
    assert out['valid'][0].tolist() == [True, True, False, False]
    # kept rows first, in score order: A, the distinct person, then the dropped duplicate
    assert out['scores'][0, :3].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert torch.equal(out['keypoints'][0, 0], a)
    assert torch.equal(out['keypoints'][0, 2], a + 0.7)
    assert {k: v.shape for k, v in out.items()} == {k: v.shape for k, v in top.items()}


def test_parallel_pass_differs_from_greedy_on_chains():
    """A > B > C with OKS(A,B) > thr, OKS(B,C) > thr, OKS(A,C) <= thr: greedy NMS keeps A
    and C; the one parallel pass keeps only A (C's suppressor B is itself suppressed).
    Documented in erpose_mm/structures/dedupe.py."""
    a = pose(100, 100, h=80)
    top = make_top([a, a + 2.0, a + 4.0], [0.9, 0.8, 0.7])
    oks = candidate_oks(top['keypoints'], top['bboxes'], COCO_SIGMAS)[0]
    thr = 0.75
    assert oks[0, 1] > thr and oks[1, 2] > thr and oks[0, 2] <= thr, oks
    assert greedy_keep(oks, top['valid'][0], thr) == [0, 2]
    keep = dedupe_keep(top['scores'], top['keypoints'], top['bboxes'], top['valid'],
                       COCO_SIGMAS, thr)
    assert keep[0].tolist() == [True, False, False]
    # one pass is idempotent: run again on the survivors, nothing more is dropped
    again = dedupe_topk(dedupe_topk(top, COCO_SIGMAS, thr), COCO_SIGMAS, thr)
    assert again['valid'][0].tolist() == [True, False, False]


def test_invalid_rows_suppress_nothing_and_thr_checked():
    a = pose(100, 100)
    top = make_top([a, a + 0.5], [0.9, 0.8], valid=[False, True])
    keep = dedupe_keep(top['scores'], top['keypoints'], top['bboxes'], top['valid'],
                       COCO_SIGMAS, 0.5)
    assert keep[0].tolist() == [False, True]
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r'dedupe_thr must be in \(0, 1\]'):
            dedupe_topk(top, COCO_SIGMAS, bad)


def test_settings_precedence():
    assert dedupe_setting() is None and dedupe_setting(dict(score_thr=0.1)) is None
    assert dedupe_setting(dict(dedupe_thr=0.7)) == 0.7
    assert dedupe_setting(dict(dedupe_thr=0.7), dict(dedupe_threshold=0.9)) == 0.9
    assert decode_settings(dict(dedupe_thr=0.7)) == (0.01, 100)
    with pytest.raises(ValueError, match='dedupe_thr'):
        dedupe_setting(dict(dedupe_thr=2))


def test_numpy_twin_equals_torch():
    """onnx_runner.dedupe_rows (numpy, export convention) == dedupe_keep (torch)."""
    g = torch.Generator().manual_seed(0)
    dropped = 0
    for trial in range(20):
        k = 60
        centres = torch.rand(6, 2, generator=g) * 200
        base = torch.stack([pose(float(c[0]), float(c[1]), seed=trial * 10 + i)
                            for i, c in enumerate(centres)])
        who = torch.randint(0, 6, (k, ), generator=g)
        kpts = base[who] + torch.randn(k, 17, 2, generator=g) * 0.3 * (1 + trial)
        scores = torch.rand(k, generator=g).sort(descending=True)[0]
        scores[-5:] = 0                                  # padding rows
        thr = float(torch.rand(1, generator=g)) * 0.6 + 0.3
        boxes = keypoints_to_bboxes(kpts)
        keep_t = dedupe_keep(scores[None], kpts[None], boxes[None], scores[None] > 0,
                             COCO_SIGMAS, thr)[0].numpy()
        dets = np.concatenate([boxes.numpy(), scores[:, None].numpy()], 1)
        kp3 = np.concatenate([kpts.numpy(), np.ones((k, 17, 1), np.float32)], -1)
        keep_n = runner_mod.dedupe_rows(dets, kp3, COCO_SIGMAS.numpy(), thr)
        np.testing.assert_array_equal(keep_n, keep_t)
        dropped += int((scores.numpy() > 0).sum() - keep_t.sum())
    assert dropped > 0


# ----------------------------------------------------------------------------- model
@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('dedupe')


@pytest.fixture(scope='module')
def ckpt(work):
    return make_random_checkpoint(CFG, str(work / 'n.pth'), seed=0, calib_sizes=(SIZE, ))


@pytest.fixture(scope='module')
def model(ckpt):
    return build_model(CFG, ckpt)


@pytest.fixture(scope='module')
def x():
    g = torch.Generator().manual_seed(3)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=g),
                                          size=(SIZE, SIZE), mode='bilinear')
    return img


# random weights give no true duplicates (max OKS between its top-100 ~0.23): a low threshold
# makes the dedupe drop part of them, which is what the parity tests need
THR = 0.15


@pytest.fixture(scope='module')
def onnx_pair(work, ckpt):
    plain = export_onnx(CFG, ckpt, str(work / 'plain.onnx'), input_size=(SIZE, SIZE),
                        score_thr=0.0, max_per_img=100)
    dd = export_onnx(CFG, ckpt, str(work / 'dedupe.onnx'), input_size=(SIZE, SIZE),
                     score_thr=0.0, max_per_img=100, dedupe_thr=THR)
    return plain, dd


def head_topk(model, x, **kw):
    with torch.no_grad():
        outs = model.head.dense_outputs(model.extract_feat(x))
        return model.head.select_topk(outs, 0.0, 100, **kw)[0]


@pytest.mark.slow
def test_off_by_default_is_todays_decode(model, x):
    ref = head_topk(model, x)
    for kw in (dict(), dict(dedupe_thr=None)):
        got = head_topk(model, x, **kw)
        assert all(torch.equal(ref[k], got[k]) for k in ref)
    # predict(): test_cfg without the key and with dedupe_thr=None give the same results
    with torch.no_grad():
        feats = model.extract_feat(x)
        a = model.head.predict(feats, None, dict(score_thr=0.0))[0]
        b = model.head.predict(feats, None, dict(score_thr=0.0, dedupe_thr=None))[0]
        c = model.head.predict(feats, None, dict(score_thr=0.0, dedupe_thr=THR))[0]
    assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
    assert 0 < len(c.scores) < len(a.scores)     # THR drops part of the candidates
    assert np.all(np.diff(c.scores) <= 0)


@pytest.mark.slow
def test_onnx_export_with_dedupe_matches_pytorch(model, x, onnx_pair):
    plain, dd = onnx_pair
    m = onnx.load(dd)
    ops = {n.op_type for n in m.graph.node}
    assert not ops & {'NonMaxSuppression', 'Loop', 'If', 'Scan'} and 'TopK' in ops
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim]
              for o in m.graph.output}
    assert shapes == {'dets': [1, 100, 5], 'keypoints': [1, 100, 17, 3]}
    meta = json.loads({p.key: p.value for p in m.metadata_props}['erpose'])
    assert meta['dedupe_thr'] == THR and len(meta['sigmas']) == 17
    assert json.loads({p.key: p.value for p in onnx.load(plain).metadata_props}
                      ['erpose'])['dedupe_thr'] is None

    dets, kpts = ort.InferenceSession(dd, providers=['CPUExecutionProvider']).run(
        None, {'input': x.numpy()})
    ref = head_topk(model, x, dedupe_thr=THR)
    n = len(ref['scores'])
    assert 0 < n < 100
    s = dets[0, :, 4]
    assert np.all(s[:n] > 0) and np.all(s[n:] == 0) and np.all(kpts[0, n:, :, 2] == 0)
    np.testing.assert_allclose(s[:n], ref['scores'].numpy(), atol=1e-5)
    np.testing.assert_allclose(kpts[0, :n, :, :2], ref['keypoints'].numpy(), atol=1e-3)
    np.testing.assert_allclose(kpts[0, :n, :, 2], ref['keypoint_scores'].numpy(), atol=1e-5)


@pytest.mark.slow
def test_runner_numpy_dedupe_on_any_export(onnx_pair, x):
    """ERPoseONNX(dedupe_thr=...) on the plain export == the export with the dedupe baked
    in (and re-applying it there drops nothing more)."""
    plain, dd = onnx_pair
    img = (x[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8)
    res_plain = runner_mod.ERPoseONNX(plain, score_thr=0.0, dedupe_thr=THR)(img)
    baked = runner_mod.ERPoseONNX(dd, score_thr=0.0)
    assert baked.export_dedupe_thr == THR
    res_baked = baked(img)
    res_twice = runner_mod.ERPoseONNX(dd, score_thr=0.0, dedupe_thr=THR)(img)
    assert 0 < len(res_plain) < len(runner_mod.ERPoseONNX(plain, score_thr=0.0)(img))
    for res in (res_baked, res_twice):
        assert len(res) == len(res_plain)
        np.testing.assert_allclose([p['keypoints'] for p in res],
                                   [p['keypoints'] for p in res_plain], atol=1e-3)
    with pytest.raises(ValueError, match=r'dedupe_thr must be in \(0, 1\]'):
        runner_mod.ERPoseONNX(plain, dedupe_thr=0)


# ----------------------------------------------------------------------------- deploy cfg
def test_deploy_config_and_rewriter_params():
    """The dedupe deploy config inherits the static one; the MMDeploy rewriter's
    parameters carry its dedupe_threshold (over the model's test_cfg)."""
    from mmengine import Config
    cfg = Config.fromfile(DEDUPE_CFG)
    post = cfg.codebase_config.post_processing
    assert post.dedupe_threshold == 0.8 and post.score_threshold == 0.01
    assert cfg.onnx_config.input_shape == [640, 640] and cfg.backend_config.type == 'onnxruntime'
    if importlib.util.find_spec('mmdeploy') is None:
        pytest.skip('mmdeploy is not installed')
    from erpose_mm.deploy.rewriters import _post_processing_params
    head = SimpleNamespace(test_cfg=dict(score_thr=0.05, dedupe_thr=0.6))
    assert _post_processing_params(SimpleNamespace(cfg=cfg), head) == dict(
        score_thr=0.01, max_per_img=100, dedupe_thr=0.8)
    plain = Config.fromfile(DEDUPE_CFG.replace('_dedupe.py', '.py'))
    assert _post_processing_params(SimpleNamespace(cfg=plain), head)['dedupe_thr'] == 0.6
    assert _post_processing_params(SimpleNamespace(cfg=plain),
                                   SimpleNamespace(test_cfg={}))['dedupe_thr'] is None
