"""Backbone, neck, head: shapes, parameter counts, dual heads, deploy, decode, losses."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

PAPER_PARAMS = dict(n=2.53e6, s=9.69e6, m=23.36e6, l=39.95e6)


def _cfg(scale, dataset='coco-640'):
    return Config.fromfile(f'configs/erpose/erpose-{scale}_{dataset}.py')


@pytest.fixture(scope='module')
def model_n():
    # module-scoped fixtures are built before the function-scoped registry scope fixture
    import erpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    torch.manual_seed(0)
    return MODELS.build(_cfg('n').model)


def test_backbone_and_neck_strides():
    bb = MODELS.build(dict(type='YOLOv8CSPDarknet', deepen_factor=0.33, widen_factor=0.25))
    neck = MODELS.build(dict(type='YOLOv8PAFPN', in_channels=bb.out_channels,
                             out_channels=[256, 512, 1024], deepen_factor=0.33,
                             widen_factor=0.25))
    feats = neck(bb(torch.zeros(1, 3, 128, 192)))
    assert [f.shape[1] for f in feats] == [64, 128, 256]
    assert [tuple(f.shape[2:]) for f in feats] == [(16, 24), (8, 12), (4, 6)]
    # two-level variant (top-down stops at P4)
    neck2 = MODELS.build(dict(type='YOLOv8PAFPN', in_channels=bb.out_channels[1:],
                              out_channels=[512, 1024], deepen_factor=0.33, widen_factor=0.25))
    feats2 = neck2(bb(torch.zeros(1, 3, 128, 192))[1:])
    assert [tuple(f.shape[2:]) for f in feats2] == [(8, 12), (4, 6)]


@pytest.mark.parametrize('scale', ['n', 's', 'm', 'l'])
def test_inference_param_count_matches_paper(scale):
    model = MODELS.build(_cfg(scale).model)
    model.head.switch_to_deploy()
    n = sum(p.numel() for p in model.parameters())
    assert abs(n / PAPER_PARAMS[scale] - 1) <= 0.03, (scale, n)


def test_levels_per_scale_follow_table_v():
    assert list(_cfg('n').model.head.featmap_strides) == [16, 32]
    for s in 'sml':
        assert list(_cfg(s).model.head.featmap_strides) == [8, 16, 32]


def test_head_outputs_and_decode(model_n):
    model = model_n.eval()
    x = torch.rand(2, 3, 128, 160)
    feats = model.extract_feat(x)
    confs, kpts, boxes = model.head.forward(feats)
    assert boxes is None
    assert [tuple(c.shape) for c in confs] == [(2, 1, 8, 10), (2, 1, 4, 5)]
    assert [tuple(k.shape) for k in kpts] == [(2, 51, 8, 10), (2, 51, 4, 5)]
    out = model.head.decode(confs, kpts)
    assert out['keypoints'].shape == (2, 8 * 10 + 4 * 5, 17, 2)
    # zero offsets decode to the cell centre (offsets are relative to the cell, x stride)
    z = [torch.zeros_like(k) for k in kpts]
    dec = model.head.decode(confs, z)['keypoints']
    assert torch.allclose(dec[0, 0, 0], torch.tensor([8.0, 8.0]))       # P4 cell (0,0)
    assert torch.allclose(dec[0, 80, 0], torch.tensor([16.0, 16.0]))    # P5 cell (0,0)
    one = [torch.zeros_like(k) for k in kpts]
    one[1][:, 0] = 1.0  # x offset of keypoint 0 at P5 = 1 -> offset_scale * 32 px
    dec = model.head.decode(confs, one)['keypoints']
    assert torch.allclose(dec[0, 80, 0], torch.tensor([16.0 + 2.0 * 32, 16.0]))


def test_topk_decode_has_no_duplicates_and_respects_limits(model_n):
    head = model_n.head
    B, K = 1, 17
    confs = [torch.full((B, 1, 8, 10), -10.0), torch.full((B, 1, 4, 5), -10.0)]
    kpts = [torch.zeros(B, 3 * K, 8, 10), torch.zeros(B, 3 * K, 4, 5)]
    confs[0][0, 0, 2, 3] = 5.0   # one confident person at P4
    confs[1][0, 0, 1, 1] = 3.0   # and one at P5
    outs = head.decode(confs, kpts)
    det = head.select_topk(outs, score_thr=0.5, max_per_img=100)[0]
    assert det['scores'].shape == (2,)
    assert det['scores'][0] > det['scores'][1]
    assert torch.allclose(det['keypoints'][0, 0], torch.tensor([3.5 * 16, 2.5 * 16]))
    assert det['bboxes'].shape == (2, 4)
    det1 = head.select_topk(outs, score_thr=0.0, max_per_img=5)[0]
    assert det1['scores'].shape == (5,)


def _sample(kpts, vis=None, h=128, w=160):
    kpts = torch.as_tensor(kpts, dtype=torch.float32)
    G, K = kpts.shape[:2]
    vis = torch.ones(G, K) if vis is None else torch.as_tensor(vis, dtype=torch.float32)
    ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(w, h)))
    lo = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, 1e9)).amin(1)
    hi = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, -1e9)).amax(1)
    bb = torch.cat([lo, hi], -1) if G else torch.zeros(0, 4)
    bb = torch.where(vis.sum(1, keepdim=True) > 0, bb, torch.tensor([[10.0, 10, 60, 60]]))
    ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=vis, bboxes=bb,
                                         areas=(bb[:, 2:] - bb[:, :2]).prod(-1))
    return ds


def _person(cx, cy, K=17, s=20.0):
    g = torch.Generator().manual_seed(int(cx * 7 + cy))
    return torch.tensor([cx, cy]) + torch.randn(K, 2, generator=g) * s


def test_loss_both_heads_and_one_positive_per_person_in_sah(model_n):
    model = copy.deepcopy(model_n).train()
    x = torch.rand(2, 3, 128, 160)
    samples = [_sample(torch.stack([_person(50, 60), _person(110, 60)])),
               _sample(torch.stack([_person(80, 70)]))]
    losses = model.loss(x, samples)
    for k in ('loss_pose', 'loss_vis', 'loss_conf', 'loss_pose_o2m', 'loss_vis_o2m',
              'loss_conf_o2m'):
        assert torch.isfinite(losses[k]) and losses[k] > 0, k
    assert losses['num_pos'].item() == pytest.approx(1.5)       # SAH: 3 people, 2 images
    assert losses['num_pos_o2m'].item() > 1.5                    # MAH: top-k per person
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert model.head.one2one.kpt[0][-1].weight.grad.abs().sum() > 0
    assert model.head.one2many.kpt[0][-1].weight.grad.abs().sum() > 0


def test_share_regression_shares_keypoint_branch_not_confidence(model_n):
    """share_regression=True (default): one keypoint branch serves MAH and SAH; the
    confidence branches stay separate; the inference model is the same size either way."""
    shared = copy.deepcopy(model_n).train()
    head = shared.head
    assert head.share_regression
    assert head.one2many.kpt is head.one2one.kpt
    assert head.one2many.conf is not head.one2one.conf
    cfg = copy.deepcopy(_cfg("n").model)
    cfg.head.share_regression = False
    separate = MODELS.build(cfg).train()
    assert separate.head.one2many.kpt is not separate.head.one2one.kpt

    def n_infer(m):
        m = copy.deepcopy(m)
        m.head.switch_to_deploy()
        return sum(p.numel() for p in m.parameters())
    assert n_infer(shared) == n_infer(separate)
    assert sum(p.numel() for p in shared.parameters()) < sum(p.numel() for p in separate.parameters())

    x = torch.rand(1, 3, 128, 160)
    losses = shared.loss(x, [_sample(torch.stack([_person(60, 60)]))])
    # the SAH pose loss alone reaches the backbone through the shared branch (not detached)
    shared.zero_grad()
    losses['loss_pose'].backward(retain_graph=True)
    assert head.one2one.kpt[0][-1].weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in shared.backbone.parameters())
    # ... while the SAH confidence loss stays off the backbone (detached features)
    shared.zero_grad()
    losses['loss_conf'].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in shared.backbone.parameters())
    assert head.one2one.conf[0][-1].weight.grad.abs().sum() > 0


def test_sah_only_training_reaches_the_backbone():
    """Without a MAH (Table VII's SAH-only row) the SAH must train the backbone itself."""
    cfg = copy.deepcopy(_cfg('n').model)
    cfg.head.with_one2many = False
    model = MODELS.build(cfg).train()
    assert model.head.detach_one2one and model.head.one2many is None
    losses = model.loss(torch.rand(1, 3, 128, 160), [_sample(torch.stack([_person(60, 60)]))])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_oks_scale_is_the_bbox_area_by_default(model_n):
    """The paper's s is sqrt(bbox area); the annotation area (COCO: mask area) is an option."""
    head = copy.deepcopy(model_n.head)
    ds = _sample(torch.stack([_person(60, 60)]))
    bb = ds.gt_instance_labels.bboxes
    box_area = (bb[:, 2:] - bb[:, :2]).prod(-1)
    ds.gt_instance_labels.areas = box_area * 0.25          # a mask area much smaller than the box
    assert head.oks_scale == 'bbox'
    assert torch.allclose(head.batch_targets([ds], 'cpu')['areas'][0], box_area)
    head.oks_scale = 'area'
    assert torch.allclose(head.batch_targets([ds], 'cpu')['areas'][0], box_area * 0.25)
    with pytest.raises(ValueError, match='oks_scale'):
        cfg = copy.deepcopy(_cfg('n').model)
        cfg.head.oks_scale = 'mask'
        MODELS.build(cfg)


def test_confidence_targets_soft_by_default_hard_as_option(model_n):
    """'soft' (default): each positive's target is its alignment score over the person's
    best, times the person's best OKS (TAL), so it lies in (0, 1] and the person's
    best-aligned positive gets the person's best OKS; 'hard': 1 at every positive."""
    head = copy.deepcopy(model_n.head).train()
    assert head.conf_target == 'soft'
    feats = [torch.rand(1, c, 128 // s, 160 // s)
             for c, s in zip(head.in_channels, head.featmap_strides)]
    samples = [_sample(torch.stack([_person(50, 60), _person(110, 60)]))]
    captured = {}

    def capture(logits, target, weight):
        captured.setdefault('t', []).append(target.detach().clone())
        return (logits * 0).sum()

    head.loss_conf.forward = capture
    raw = head.one2many(feats)
    head._branch_loss(raw, head.batch_targets(samples, 'cpu'), head.assigner_one2many)
    soft = captured.pop('t')[0][0]
    pos = soft > 0
    assert pos.sum() >= 2 and (soft <= 1).all() and (soft[pos] < 1).any()
    # the same assignment, redone: each person's best-aligned positive gets its best OKS
    outs = head.decode(*raw)
    res = head.assign(outs, head.batch_targets(samples, 'cpu'), head.assigner_one2many)
    res = {k: v[0] for k, v in res.items() if v.dim()}
    assert torch.equal(res['gt_inds'] >= 0, pos)
    for g in range(2):
        mine = res['gt_inds'] == g
        best = res['align'].masked_fill(~mine, -1).argmax()
        assert soft[best] == pytest.approx(res['quality'][mine].max().item(), rel=1e-5)
    head.conf_target = 'hard'
    head._branch_loss(raw, head.batch_targets(samples, 'cpu'), head.assigner_one2many)
    hard = captured.pop('t')[0][0]
    assert torch.equal(hard > 0, pos) and (hard[pos] == 1).all()
    with pytest.raises(ValueError, match='conf_target'):
        cfg = copy.deepcopy(_cfg('n').model)
        cfg.head.conf_target = 'quality'
        MODELS.build(cfg)


def test_loss_finite_without_positives(model_n):
    model = copy.deepcopy(model_n).train()
    x = torch.rand(2, 3, 128, 160)
    empty = _sample(torch.zeros(0, 17, 2), torch.zeros(0, 17))
    crowd_only = _sample(torch.zeros(1, 17, 2), torch.zeros(1, 17))   # no labelled keypoints
    losses = model.loss(x, [empty, crowd_only])
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    assert losses['loss_pose'].item() == 0 and losses['num_pos'].item() == 0
    total.backward()


def test_keypoint_count_mismatch_is_a_clear_error(model_n):
    model = copy.deepcopy(model_n).train()
    ds = _sample(torch.zeros(1, 14, 2) + 50)
    with pytest.raises(ValueError, match=r'14 keypoints.*num_keypoints=17'):
        model.loss(torch.rand(1, 3, 128, 160), [ds])


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


def test_box_driven_ablation_head_builds_and_trains():
    cfg = _cfg('n').model
    cfg.head.with_bbox = True
    cfg.head.assigner_one2many = dict(type='KeypointDrivenAssigner', topk=10, metric='iou')
    cfg.head.assigner_one2one = dict(type='KeypointDrivenAssigner', topk=1, metric='iou')
    model = MODELS.build(cfg).train()
    losses = model.loss(torch.rand(1, 3, 128, 160), [_sample(_person(80, 60)[None])])
    assert 'loss_bbox' in losses and torch.isfinite(losses['loss_bbox'])


def test_crowdpose_config_has_14_keypoints():
    model = MODELS.build(_cfg('n', 'crowdpose-640').model)
    assert model.head.num_keypoints == 14 and model.head.sigmas.numel() == 14


def test_keypoint_prior_starts_offsets_at_a_standing_pose():
    """kpt_prior_height: before any training, every cell predicts a standing person of that
    many strides (nose above the cell, ankles below, left side on the image's right);
    without it all keypoints start at the cell centre. Inference size is unchanged."""
    cfg = copy.deepcopy(_cfg('n').model)
    feats = [torch.zeros(1, 128, 4, 4), torch.zeros(1, 256, 2, 2)]   # features carry no signal

    def start_offsets(height):
        cfg.head.kpt_prior_height = height
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()           # as the Runner does before training
        head = model.head.eval()
        with torch.no_grad():
            out = head.decode(*head.one2one(feats))
        rel = out['keypoints'][0] - out['priors'][:, None]              # (N, K, 2) px
        return rel / out['strides'][:, None, None], head               # in strides

    rel0, _ = start_offsets(None)
    assert rel0.abs().max() < 1e-3
    rel, head = start_offsets(4.0)
    nose, l_sho, r_sho, l_ank = rel[:, 0], rel[:, 5], rel[:, 6], rel[:, 15]
    # the same pose, in stride units, on both levels; 4 strides from head to toe
    assert torch.allclose(rel, rel[:1].expand_as(rel), atol=1e-4)
    assert nose[0, 1] < -1.5 and l_ank[0, 1] > 1.5 and (l_ank[0, 1] - nose[0, 1]) < 4.0
    assert l_sho[0, 0] > 0 > r_sho[0, 0]
    plain = start_offsets(None)[1]
    for h in (head, plain):
        h.switch_to_deploy()
    assert sum(p.numel() for p in head.parameters()) == sum(p.numel() for p in plain.parameters())
    with pytest.raises(ValueError, match='height_in_strides'):
        start_offsets(-1.0)
