"""The batched assignment and head loss equal their per-image references, and the one-to-one
matching gives every labelled person exactly one positive."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from erpose_mm.models.task_modules import KeypointDrivenAssigner
from reference_assignment import reference_assign, reference_branch_loss


def _grid(w, h, stride):
    ys, xs = torch.meshgrid(torch.arange(h // stride) * stride + stride / 2,
                            torch.arange(w // stride) * stride + stride / 2, indexing='ij')
    return torch.stack([xs.flatten(), ys.flatten()], -1).float()


def _random_people(g, n, K, w=128, h=128, unlabelled=0):
    """n people crowded in the middle of a w x h image (boxes overlap, cells contended),
    the last ``unlabelled`` without labelled keypoints (crowd regions)."""
    centre = torch.tensor([w / 2, h / 2]) + (torch.rand(n, 1, 2, generator=g) - 0.5) * w * 0.4
    kpts = centre + torch.randn(n, K, 2, generator=g) * (6 + 10 * torch.rand(n, 1, 1, generator=g))
    vis = (torch.rand(n, K, generator=g) > 0.2).float()
    vis[:, 0] = 1
    if unlabelled:
        vis[n - unlabelled:] = 0
    lo, hi = kpts.amin(1), kpts.amax(1)
    boxes = torch.cat([lo - 2, hi + 2], -1)
    return kpts, vis, boxes, (boxes[:, 2:] - boxes[:, :2]).prod(-1)


def _batch(K, counts, seed, unlabelled=1):
    g = torch.Generator().manual_seed(seed)
    people = [_random_people(g, n, K, unlabelled=min(unlabelled, n)) for n in counts]
    G = max(counts)
    B = len(counts)
    pad = dict(keypoints=torch.zeros(B, G, K, 2), keypoints_visible=torch.zeros(B, G, K),
               bboxes=torch.zeros(B, G, 4), areas=torch.zeros(B, G),
               mask=torch.zeros(B, G, dtype=torch.bool))
    for b, (k, v, bx, a) in enumerate(people):
        n = k.shape[0]
        pad['keypoints'][b, :n], pad['keypoints_visible'][b, :n] = k, v
        pad['bboxes'][b, :n], pad['areas'][b, :n], pad['mask'][b, :n] = bx, a, True
    return people, pad, g


@pytest.mark.parametrize('K', [14, 17])
@pytest.mark.parametrize('topk', [1, 5])
@pytest.mark.parametrize('rule', ['center', 'all'])
@pytest.mark.parametrize('metric', ['oks', 'iou'])
def test_batched_assignment_equals_per_image_reference(K, topk, rule, metric):
    stride = 8
    priors = torch.cat([_grid(128, 128, 8), _grid(128, 128, 16)])
    strides = torch.cat([torch.full((256,), 8.0), torch.full((64,), 16.0)])
    N = priors.shape[0]
    counts = [0, 3, 9, 1]                        # an image with no people, a crowded one
    people, gt, g = _batch(K, counts, seed=K * 100 + topk)
    B = len(counts)
    scores = torch.rand(B, N, generator=g)
    # predictions near the people so that OKS and contention matter
    src = torch.cat([p[0] for p in people if p[0].shape[0]])
    pick = torch.randint(0, src.shape[0], (B, N), generator=g)
    kpts = src[pick] + torch.randn(B, N, K, 2, generator=g) * 4
    boxes = torch.cat([kpts.amin(2), kpts.amax(2)], -1)
    sigmas = torch.linspace(0.025, 0.1, K)
    a = KeypointDrivenAssigner(topk=topk, candidate_rule=rule, metric=metric)
    res = a.assign_batch(priors, strides, scores, kpts, gt, sigmas, bboxes=boxes)
    widened = 0
    for b, (k, v, bx, ar) in enumerate(people):
        gi, al, qu, ig, w = reference_assign(a, priors, strides, scores[b], kpts[b], k, v, bx,
                                             ar, sigmas, boxes[b])
        widened += w
        assert torch.equal(res['gt_inds'][b], gi), b
        assert torch.allclose(res['align'][b], al, atol=1e-6)
        assert torch.allclose(res['quality'][b], qu, atol=1e-6)
        assert torch.equal(res['ignore_mask'][b], ig)
        if topk == 1:
            labelled = int(((v > 0).any(1)).sum())
            assert (gi >= 0).sum() == labelled  # one positive per labelled person
    assert int(res['num_widened']) == widened
    assert stride == 8


def _sample(kpts, vis, boxes, h=128, w=128):
    ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(w, h)))
    ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=vis, bboxes=boxes,
                                         areas=(boxes[:, 2:] - boxes[:, :2]).prod(-1))
    return ds


@pytest.mark.parametrize('K,conf_target,with_bbox', [(17, 'soft', False), (14, 'hard', False),
                                                      (17, 'soft', True)])
def test_batched_head_loss_equals_per_image_reference(K, conf_target, with_bbox):
    cfg = Config.fromfile('configs/erpose/erpose-n_coco-640.py').model.head
    cfg.update(num_keypoints=K, conf_target=conf_target, with_bbox=with_bbox,
               metainfo=None if K != 17 else cfg.metainfo, kpt_channels=None)
    torch.manual_seed(0)
    head = MODELS.build(cfg).train()
    people, _, _ = _batch(K, [0, 4, 12], seed=7)
    samples = [_sample(k, v, b) for k, v, b, _ in people]
    feats = [torch.randn(3, c, 128 // s, 128 // s)
             for c, s in zip(head.in_channels, head.featmap_strides)]
    gt = head.batch_targets(samples, 'cpu')
    per_image = [dict(keypoints=k, keypoints_visible=v, bboxes=b, areas=a)
                 for k, v, b, a in people]
    for branch, assigner in ((head.one2one, head.assigner_one2one),
                             (head.one2many, head.assigner_one2many)):
        raw = branch(feats)
        got = head._branch_loss(raw, gt, assigner)
        want = reference_branch_loss(head, head.decode(raw), per_image, assigner)
        assert set(got) == set(want)
        for k in want:
            assert torch.allclose(got[k], want[k], rtol=1e-6, atol=1e-6), (k, got[k], want[k])
    if K == 17:
        assert got['num_pos'] > 0


def _two_person_single_best_cell():
    # both people are best predicted by cell 0; cell 1 is nearer a, cell 2 nearer b; cell 3
    # predicts a exactly but is no candidate
    a = torch.tensor([[10., 10], [30, 10], [10, 50], [30, 50]])
    b = a + torch.tensor([3., 0])
    priors = torch.tensor([[20., 30], [22, 30], [20, 22], [300, 300]])
    kpts = torch.stack([(a + b) / 2, a + torch.tensor([-2., 4]), b + torch.tensor([2., 4]), a])
    boxes = torch.stack([torch.cat([a.amin(0), a.amax(0)]), torch.cat([b.amin(0), b.amax(0)])])
    gt = InstanceData(keypoints=torch.stack([a, b]), keypoints_visible=torch.ones(2, 4),
                      bboxes=boxes, areas=(boxes[:, 2:] - boxes[:, :2]).prod(-1))
    pred = InstanceData(priors=priors, strides=torch.full((4,), 8.0), keypoints=kpts,
                        scores=torch.tensor([0.9, 0.5, 0.5, 0.9]))
    return pred, gt


def test_two_people_with_the_same_best_cell_both_get_a_positive():
    pred, gt = _two_person_single_best_cell()
    sigmas = torch.full((4,), 0.1)
    res = KeypointDrivenAssigner(topk=1).assign(pred, gt, sigmas)
    assert sorted(res['gt_inds'][res['gt_inds'] >= 0].tolist()) == [0, 1]
    assert int(res['num_widened']) == 0
    # the cell both want goes to the person it predicts better (higher score) ...
    oks_first = res['gt_inds'][0].item()
    assert oks_first in (0, 1)
    # ... and the other person takes its best free cell, the one predicting it
    other = 1 - oks_first
    assert res['gt_inds'][1 if other == 0 else 2].item() == other
    # top-k (MAH) keeps its rule: a contested cell goes to one person only
    many = KeypointDrivenAssigner(topk=3).assign(pred, gt, sigmas)['gt_inds']
    assert (many[:3] >= 0).all() and many[3] == -1


def test_person_without_free_candidate_is_widened_and_counted():
    a = torch.tensor([[100., 100], [108, 100], [100, 108], [108, 108]])
    boxes = torch.tensor([[100., 100, 108, 108]] * 2)
    gt = InstanceData(keypoints=torch.stack([a, a]), keypoints_visible=torch.ones(2, 4),
                      bboxes=boxes, areas=torch.full((2,), 64.0))
    # one candidate cell (the centre one); the others lie outside box and centre region
    priors = torch.tensor([[104., 104], [200, 200], [300, 300]])
    pred = InstanceData(priors=priors, strides=torch.full((3,), 8.0),
                        keypoints=torch.stack([a, a + 1, a + 50]),
                        scores=torch.tensor([0.9, 0.5, 0.5]))
    res = KeypointDrivenAssigner(topk=1, center_radius=2.5).assign(pred, gt, torch.full((4,), 0.1))
    assert res['gt_inds'].tolist()[0] in (0, 1)
    assert sorted(res['gt_inds'][res['gt_inds'] >= 0].tolist()) == [0, 1]
    assert res['gt_inds'][1] >= 0            # the widened person takes its best free cell
    assert int(res['num_widened']) == 1


def _crowd_sample(n=40, w=640, h=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    kpts, vis, boxes, _ = _random_people(g, n, 17, w=w, h=h)
    kpts = (kpts - w / 2) * 0.6 + w / 2      # squeeze them together: heavy overlap
    lo, hi = kpts.amin(1), kpts.amax(1)
    return _sample(kpts, vis, torch.cat([lo - 2, hi + 2], -1), h=h, w=w)


def test_crowded_image_gets_one_sah_positive_per_labelled_person():
    """40 overlapping people in one 640 input of ER-Pose-n: 40 one-to-one positives (the
    former rule, contested cells to the higher score only, gives 33 here)."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile('configs/erpose/erpose-n_coco-640.py').model).train()
    samples = [_crowd_sample(40, seed=0), _crowd_sample(33, seed=1)]
    feats = [torch.randn(2, c, 640 // s, 640 // s)
             for c, s in zip(model.head.in_channels, model.head.featmap_strides)]
    with torch.no_grad():
        losses = model.head.loss(feats, samples)
        again = model.head.loss(feats, samples)
    assert losses['num_pos'].item() == pytest.approx((40 + 33) / 2)
    # deterministic: the same inputs give the same matching
    gt = model.head.batch_targets(samples, 'cpu')
    with torch.no_grad():
        outs = model.head.decode(model.head.one2one(feats))
    r1 = model.head.assign(outs, gt, model.head.assigner_one2one)
    r2 = model.head.assign(copy.deepcopy(outs), gt, model.head.assigner_one2one)
    assert torch.equal(r1['gt_inds'], r2['gt_inds'])
    assert [int((r1['gt_inds'][b] >= 0).sum()) for b in range(2)] == [40, 33]
    assert all(torch.equal(losses[k], again[k]) for k in losses)
