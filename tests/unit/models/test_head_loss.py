"""Head losses: both heads train, which losses reach which parameters, the OKS scale,
confidence targets, empty images, bad keypoint counts, the box-driven ablation."""
import copy

import pytest
import torch
from mmpose.registry import MODELS

from erpose_mm.models.heads import total_loss
from erpose_mm.models.heads.loss_terms import ONE2MANY_SUFFIX, STATISTICS, is_loss


def test_loss_both_heads_and_one_positive_per_person_in_sah(model_n, make_pose_sample, random_person):
    model = copy.deepcopy(model_n).train()
    x = torch.rand(2, 3, 128, 160)
    samples = [make_pose_sample(torch.stack([random_person(50, 60), random_person(110, 60)])),
               make_pose_sample(torch.stack([random_person(80, 70)]))]
    losses = model.loss(x, samples)
    for k in ('loss_pose', 'loss_vis', 'loss_conf', 'loss_pose_o2m', 'loss_vis_o2m',
              'loss_conf_o2m'):
        assert torch.isfinite(losses[k]) and losses[k] > 0, k
    assert losses['num_pos'].item() == pytest.approx(1.5)       # SAH: 3 people, 2 images
    assert losses['num_pos_o2m'].item() > 1.5                    # MAH: top-k per person
    # every entry is a loss or a named statistic, the MAH's under the suffix
    for k in losses:
        base = k[:-len(ONE2MANY_SUFFIX)] if k.endswith(ONE2MANY_SUFFIX) else k
        assert is_loss(k) or k in STATISTICS or base in STATISTICS, k
    assert 'num_widened' in losses and 'num_widened_o2m' not in losses
    total = total_loss(losses)
    assert torch.equal(total, sum(v for k, v in losses.items() if 'loss' in k))  # parse_losses
    total.backward()
    assert model.head.one2one.kpt[0][-1].weight.grad.abs().sum() > 0
    assert model.head.one2many.kpt[0][-1].weight.grad.abs().sum() > 0


def test_sah_only_training_reaches_the_backbone(model_cfg, make_pose_sample, random_person):
    """Without a MAH (Table VII's SAH-only row) the SAH must train the backbone itself."""
    cfg = model_cfg('n')
    cfg.head.with_one2many = False
    model = MODELS.build(cfg).train()
    assert model.head.detach_one2one and model.head.one2many is None
    losses = model.loss(torch.rand(1, 3, 128, 160), [make_pose_sample(torch.stack([random_person(60, 60)]))])
    total_loss(losses).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_oks_scale_is_the_bbox_area_by_default(model_n, model_cfg, make_pose_sample, random_person):
    """The paper's s is sqrt(bbox area); the annotation area (COCO: mask area) is an option."""
    head = copy.deepcopy(model_n.head)
    ds = make_pose_sample(torch.stack([random_person(60, 60)]))
    bb = ds.gt_instance_labels.bboxes
    box_area = (bb[:, 2:] - bb[:, :2]).prod(-1)
    ds.gt_instance_labels.areas = box_area * 0.25          # a mask area much smaller than the box
    assert head.oks_scale == 'bbox'
    assert torch.allclose(head.batch_targets([ds], 'cpu')['areas'][0], box_area)
    head.oks_scale = 'area'
    assert torch.allclose(head.batch_targets([ds], 'cpu')['areas'][0], box_area * 0.25)
    with pytest.raises(ValueError, match='oks_scale'):
        cfg = model_cfg('n')
        cfg.head.oks_scale = 'mask'
        MODELS.build(cfg)


def test_confidence_targets_soft_by_default_hard_as_option(model_n, model_cfg, make_pose_sample, random_person):
    """'soft' (default): each positive's target is its alignment score over the person's
    best, times the person's best OKS (TAL), so it lies in (0, 1] and the person's
    best-aligned positive gets the person's best OKS; 'hard': 1 at every positive."""
    head = copy.deepcopy(model_n.head).train()
    assert head.conf_target == 'soft'
    feats = [torch.rand(1, c, 128 // s, 160 // s)
             for c, s in zip(head.in_channels, head.featmap_strides)]
    samples = [make_pose_sample(torch.stack([random_person(50, 60), random_person(110, 60)]))]
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
    outs = head.decode(raw)
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
        cfg = model_cfg('n')
        cfg.head.conf_target = 'quality'
        MODELS.build(cfg)


def test_loss_finite_without_positives(model_n, make_pose_sample):
    model = copy.deepcopy(model_n).train()
    x = torch.rand(2, 3, 128, 160)
    empty = make_pose_sample(torch.zeros(0, 17, 2), torch.zeros(0, 17))
    crowd_only = make_pose_sample(torch.zeros(1, 17, 2), torch.zeros(1, 17))   # no labelled keypoints
    losses = model.loss(x, [empty, crowd_only])
    total = total_loss(losses)
    assert torch.isfinite(total)
    assert losses['loss_pose'].item() == 0 and losses['num_pos'].item() == 0
    total.backward()


def test_keypoint_count_mismatch_is_a_clear_error(model_n, make_pose_sample):
    model = copy.deepcopy(model_n).train()
    ds = make_pose_sample(torch.zeros(1, 14, 2) + 50)
    with pytest.raises(ValueError, match=r'14 keypoints.*num_keypoints=17'):
        model.loss(torch.rand(1, 3, 128, 160), [ds])


def _best_box_iou(model, x, gt_box):
    """Highest IoU of any cell's decoded SAH box with ``gt_box`` (x1, y1, x2, y2)."""
    head = model.head
    with torch.no_grad():
        boxes = head.dense_outputs(model.extract_feat(x))['bboxes'][0]
    lt, rb = torch.max(boxes[:, :2], gt_box[:2]), torch.min(boxes[:, 2:], gt_box[2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(-1) + (gt_box[2:] - gt_box[:2]).prod()
    return (inter / (union - inter)).max().item()


@pytest.mark.slow
def test_box_driven_ablation_head_learns_boxes(model_cfg, make_pose_sample, random_person):
    """with_bbox + IoU assignment (Table III's box-driven rows): the IoU losses train the
    box branch, and a few steps on one image bring a predicted box onto the person's."""
    cfg = model_cfg('n')
    cfg.head.with_bbox = True
    cfg.head.assigner_one2many = dict(type='KeypointDrivenAssigner', topk=10, metric='iou')
    cfg.head.assigner_one2one = dict(type='KeypointDrivenAssigner', topk=1, metric='iou')
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    x = torch.rand(1, 3, 128, 160)
    samples = [make_pose_sample(random_person(80, 60)[None])]
    gt_box = samples[0].gt_instance_labels.bboxes[0]
    box_params = list(model.head.one2one.bbox.parameters())
    optim = torch.optim.Adam(box_params, lr=1e-3)
    ious = [_best_box_iou(model, x, gt_box)]
    for step in range(12):
        losses = model.loss(x, samples)
        loss = losses['loss_bbox'] + losses['loss_bbox_o2m']
        assert loss > 0
        optim.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in box_params)
        optim.step()
        ious.append(_best_box_iou(model, x, gt_box))
    assert ious[-1] > ious[0] + 0.2, ious
