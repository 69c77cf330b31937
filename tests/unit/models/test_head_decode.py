"""Head outputs and inference: decoding, NMS-free top-k, the deploy switch, OKS-NMS and
the one-to-many branch for the MAH+NMS ablation."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmpose.structures import PoseDataSample

from erpose_mm.models.heads import BranchOutputs, split_keypoint_channels
from erpose_mm.models.heads.one2many_nms import decode_one2many_nms, oks_nms_detections


def test_head_outputs_and_decode(model_n):
    model = model_n.eval()
    x = torch.rand(2, 3, 128, 160)
    feats = model.extract_feat(x)
    raw = model.head.forward(feats)
    assert isinstance(raw, BranchOutputs) and raw.bbox is None
    confs, kpts, boxes = raw                                     # a plain tuple too
    assert [tuple(c.shape) for c in raw.conf] == [(2, 1, 8, 10), (2, 1, 4, 5)]
    assert [tuple(k.shape) for k in raw.kpt] == [(2, 51, 8, 10), (2, 51, 4, 5)]
    out = model.head.decode(raw)
    assert out['keypoints'].shape == (2, 8 * 10 + 4 * 5, 17, 2)
    # the packed keypoint channels: 2K offsets, then K visibility logits
    offsets, vis = split_keypoint_channels(raw.kpt[0], 17, dim=1)
    assert offsets.shape[1] == 34 and vis.shape[1] == 17
    assert torch.equal(out['vis_logits'][:, :80], vis.flatten(2).transpose(1, 2))
    # zero offsets decode to the cell centre (offsets are relative to the cell, x stride)
    z = [torch.zeros_like(k) for k in kpts]
    dec = model.head.decode(BranchOutputs(confs, z))['keypoints']
    assert torch.allclose(dec[0, 0, 0], torch.tensor([8.0, 8.0]))       # P4 cell (0,0)
    assert torch.allclose(dec[0, 80, 0], torch.tensor([16.0, 16.0]))    # P5 cell (0,0)
    one = [torch.zeros_like(k) for k in kpts]
    one[1][:, 0] = 1.0  # x offset of keypoint 0 at P5 = 1 -> offset_scale * 32 px
    dec = model.head.decode(BranchOutputs(confs, one))['keypoints']
    assert torch.allclose(dec[0, 80, 0], torch.tensor([16.0 + 2.0 * 32, 16.0]))


def test_topk_decode_has_no_duplicates_and_respects_limits(model_n):
    head = model_n.head
    B, K = 1, 17
    confs = [torch.full((B, 1, 8, 10), -10.0), torch.full((B, 1, 4, 5), -10.0)]
    kpts = [torch.zeros(B, 3 * K, 8, 10), torch.zeros(B, 3 * K, 4, 5)]
    confs[0][0, 0, 2, 3] = 5.0   # one confident person at P4
    confs[1][0, 0, 1, 1] = 3.0   # and one at P5
    outs = head.decode(BranchOutputs(confs, kpts))
    det = head.select_topk(outs, score_thr=0.5, max_per_img=100)[0]
    assert det['scores'].shape == (2,)
    assert det['scores'][0] > det['scores'][1]
    assert torch.allclose(det['keypoints'][0, 0], torch.tensor([3.5 * 16, 2.5 * 16]))
    assert det['bboxes'].shape == (2, 4)
    det1 = head.select_topk(outs, score_thr=0.0, max_per_img=5)[0]
    assert det1['scores'].shape == (5,)


def test_switch_to_deploy_strips_mah_and_keeps_predictions(model_n):
    model = copy.deepcopy(model_n).eval()
    x = torch.rand(1, 3, 128, 160)
    ds = PoseDataSample(metainfo=dict(input_size=(160, 128), input_center=np.array([80., 64.]),
                                      input_scale=np.array([160., 128.])))
    with torch.no_grad():
        before = model.predict(x, [copy.deepcopy(ds)])[0].pred_instances
    model.switch_to_deploy()
    assert model.head.one2many is None
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.head.modules())
    with torch.no_grad():
        after = model.predict(x, [copy.deepcopy(ds)])[0].pred_instances
    assert len(before) == len(after) > 0
    np.testing.assert_allclose(before.keypoints, after.keypoints, atol=1e-3)
    np.testing.assert_allclose(before.bbox_scores, after.bbox_scores, atol=1e-5)


# ------------------------------------------------------------- OKS-NMS (MAH ablation)
def _candidates(kpts, scores):
    """Candidates as ``select_topk`` returns them: boxes from the keypoint extent."""
    kpts = torch.as_tensor(kpts, dtype=torch.float32)
    return dict(keypoints=kpts, scores=torch.as_tensor(scores, dtype=torch.float32),
                keypoint_scores=torch.ones(kpts.shape[:2]),
                bboxes=torch.cat([kpts.amin(1), kpts.amax(1)], -1))


def _reference_nms(det, sigmas, thr):
    """Greedy OKS-NMS written out with numpy: candidates by falling score; one is dropped
    when its OKS with a kept one (COCO OKS, s^2 = the kept one's box area) exceeds thr."""
    kpts, scores = det['keypoints'].numpy(), det['scores'].numpy()
    wh = np.maximum(kpts.max(1) - kpts.min(1), 1.0)
    k2 = (2 * np.asarray(sigmas, np.float64)) ** 2
    keep = []
    for i in np.argsort(-scores, kind='stable'):
        oks = [np.mean(np.exp(-((kpts[j] - kpts[i]) ** 2).sum(-1) / (2 * k2 * wh[j].prod())))
               for j in keep]
        if all(o <= thr for o in oks):
            keep.append(int(i))
    return keep


def test_oks_nms_drops_duplicates_keeps_people_by_score(model_n, random_person):
    head = model_n.head
    a, b, c = random_person(50, 60), random_person(140, 60), random_person(90, 110)
    # unsorted: a near-copy of a (0.5 px off), b, a, c, b shifted by 2 px
    det = _candidates(torch.stack([a + 0.5, b, a, c, b + 2.0]), [0.6, 0.8, 0.9, 0.3, 0.7])
    keep = oks_nms_detections(det, head.sigmas, thr=0.5)
    assert keep.tolist() == [2, 1, 3]      # a (0.9), b (0.8), c (0.3); both duplicates gone
    for thr in (0.1, 0.5, 0.9, 0.999, 1.0):
        assert oks_nms_detections(det, head.sigmas, thr).tolist() == \
            _reference_nms(det, head.sigmas, thr), thr
    # nothing exceeds OKS 1
    assert oks_nms_detections(det, head.sigmas, thr=1.0).tolist() == [2, 1, 4, 0, 3]
    empty = oks_nms_detections(_candidates(torch.zeros(0, 17, 2), []), head.sigmas, thr=0.5)
    assert empty.numel() == 0


def _predict(model, x, **test_cfg):
    h, w = x.shape[-2:]
    ds = PoseDataSample(metainfo=dict(input_size=(w, h)))
    with torch.no_grad():
        return model.head.predict(model.extract_feat(x), [ds], test_cfg=test_cfg)[0]


@pytest.fixture(scope='module')
def calibrated_model(tmp_path_factory, repo_root):
    """ER-Pose-n with both heads and random weights whose scores and keypoints are not
    degenerate (at initialisation every cell of a level has the same score)."""
    from erpose_mm.deploy.export import build_model
    from erpose_mm.testing import make_random_checkpoint
    cfg = osp.join(repo_root, 'configs/erpose/erpose-n_coco-640.py')
    ckpt = make_random_checkpoint(cfg, str(tmp_path_factory.mktemp('ckpt') / 'n.pth'), seed=0)
    return build_model(cfg, ckpt, deploy=False)


@pytest.mark.slow
def test_predict_with_the_one_to_many_branch(calibrated_model):
    """test_cfg.branch='one2many' (Table VII's MAH + NMS rows): the MAH's candidates, up to
    nms_pre without NMS, OKS-NMS with nms_thr < 1; the default stays the SAH's top-k."""
    model = copy.deepcopy(calibrated_model)
    torch.manual_seed(1)
    x = torch.rand(1, 3, 256, 256)               # 16 x 16 + 8 x 8 = 320 cells
    sah = _predict(model, x, score_thr=0.0, max_per_img=100)
    mah = _predict(model, x, branch='one2many', score_thr=0.0, nms_pre=1000)
    assert len(sah) == 100 and len(mah) == 320
    # a different branch: the MAH's scores are not the SAH's
    assert not np.allclose(np.sort(mah.scores)[::-1][:100], sah.scores)
    nms = _predict(model, x, branch='one2many', score_thr=0.0, nms_pre=1000, nms_thr=0.5,
                   max_per_img=1000)
    assert 0 < len(nms) < len(mah)
    assert np.all(np.diff(nms.scores) <= 0)
    # the survivors are MAH candidates, and no two of them overlap by more than nms_thr
    idx = [int(np.argmin(np.abs(mah.scores - s))) for s in nms.scores]
    np.testing.assert_allclose(mah.keypoints[idx], nms.keypoints, atol=1e-5)
    det = _candidates(torch.from_numpy(nms.keypoints), torch.from_numpy(nms.scores))
    assert _reference_nms(det, model.head.sigmas, 0.5) == list(range(len(nms)))
    capped = _predict(model, x, branch='one2many', score_thr=0.0, nms_pre=1000, nms_thr=0.5,
                      max_per_img=5)
    np.testing.assert_allclose(capped.keypoints, nms.keypoints[:5])
    # predict hands this decoding to decode_one2many_nms, which the benchmarks can call too
    with torch.no_grad():
        direct = decode_one2many_nms(model.head, model.extract_feat(x), dict(
            branch='one2many', score_thr=0.0, nms_pre=1000, nms_thr=0.5, max_per_img=5))[0]
    np.testing.assert_array_equal(direct['keypoints'].numpy(), capped.keypoints)
    np.testing.assert_array_equal(direct['scores'].numpy(), capped.scores)
    model.head.switch_to_deploy()
    with pytest.raises(ValueError, match='one2many'):
        _predict(model, x, branch='one2many')
