"""How the one-to-one head (SAH) picks its single positive per person (``one2one_assign``)
and its own confidence target (``one2one_conf_target``)."""
import copy

import pytest
import torch
from mmpose.registry import MODELS

from erpose_mm.models.heads import total_loss
from erpose_mm.structures import batched_oks


def _setup(model_n, make_pose_sample, random_person, mode, seed=0):
    torch.manual_seed(seed)
    head = copy.deepcopy(model_n.head).train()
    head.one2one_assign = mode
    feats = [torch.rand(2, c, 128 // s, 160 // s)
             for c, s in zip(head.in_channels, head.featmap_strides)]
    samples = [make_pose_sample(torch.stack([random_person(50, 60), random_person(70, 64),
                                             random_person(120, 60)])),
               make_pose_sample(torch.stack([random_person(80, 70)]))]
    gt = head.batch_targets(samples, 'cpu')
    one2one = head.decode(head.one2one(feats))
    one2many = head.decode(head.one2many(feats))
    one2many_res = head.assign(one2many, gt, head.assigner_one2many)
    return head, feats, samples, gt, one2one, one2many, one2many_res


def _own_oks(head, one2one, gt, res):
    pos_b, pos_n = (res['gt_inds'] >= 0).nonzero(as_tuple=True)
    g = res['gt_inds'][pos_b, pos_n]
    return batched_oks(one2one['keypoints'][pos_b, pos_n][:, None],
                       gt['keypoints'][pos_b, g][:, None],
                       gt['keypoints_visible'][pos_b, g][:, None], gt['areas'][pos_b, g][:, None],
                       head.sigmas).reshape(-1), pos_b, pos_n


def test_own_mode_is_the_matching_on_the_sah_predictions(model_n, make_pose_sample, random_person):
    head, _, _, gt, one2one, one2many, one2many_res = _setup(model_n, make_pose_sample,
                                                             random_person, 'own')
    res = head.assign_one2one(one2one, gt, one2many, one2many_res)
    want = head.assign(one2one, gt, head.assigner_one2one)
    for k in ('gt_inds', 'align', 'quality'):
        assert torch.equal(res[k], want[k]), k


def test_one2many_mode_takes_the_positive_where_the_mah_scores_best(model_n, make_pose_sample,
                                                                   random_person):
    head, _, _, gt, one2one, one2many, one2many_res = _setup(
        model_n, make_pose_sample, random_person, 'one2many')
    res = head.assign_one2one(one2one, gt, one2many, one2many_res)
    on_mah = head.assign(one2many, gt, head.assigner_one2one)
    on_sah = head.assign(one2one, gt, head.assigner_one2one)
    assert torch.equal(res['gt_inds'], on_mah['gt_inds'])
    assert not torch.equal(res['gt_inds'], on_sah['gt_inds'])  # the two heads disagree here
    # one positive per person, and its quality is the OKS of the SAH's own keypoints there
    assert int((res['gt_inds'] >= 0).sum()) == int(gt['mask'].sum())
    own, pos_b, pos_n = _own_oks(head, one2one, gt, res)
    assert torch.allclose(res['quality'][pos_b, pos_n], own)
    assert not torch.allclose(on_mah['quality'][pos_b, pos_n], own)


def test_one2many_topk_mode_stays_inside_the_persons_mah_positives(model_n, make_pose_sample,
                                                                  random_person):
    head, _, _, gt, one2one, one2many, one2many_res = _setup(
        model_n, make_pose_sample, random_person, 'one2many_topk')
    res = head.assign_one2one(one2one, gt, one2many, one2many_res)
    pos = res['gt_inds'] >= 0
    assert int(pos.sum()) == int(gt['mask'].sum())
    # every SAH positive is a MAH positive of the same person ...
    assert torch.equal(one2many_res['gt_inds'][pos], res['gt_inds'][pos])
    # ... and the best of them by the SAH's own score
    score = one2one['conf_logits'].sigmoid().sqrt()[:, None] * batched_oks(
        one2one['keypoints'], gt['keypoints'], gt['keypoints_visible'], gt['areas'],
        head.sigmas).pow(6)                                                   # (B, G, N)
    for b, n in zip(*pos.nonzero(as_tuple=True)):
        g = res['gt_inds'][b, n]
        mine = one2many_res['gt_inds'][b] == g
        taken = (res['gt_inds'][b] >= 0) & (res['gt_inds'][b] != g)
        assert score[b, g, n] >= score[b, g][mine & ~taken].max() - 1e-7
    own, pos_b, pos_n = _own_oks(head, one2one, gt, res)
    assert torch.allclose(res['quality'][pos_b, pos_n], own)


def test_sah_confidence_target_hard_while_the_mah_stays_soft(model_n, make_pose_sample,
                                                            random_person):
    head, feats, samples, *_ = _setup(model_n, make_pose_sample, random_person, 'own')
    targets = []

    def capture(logits, target, weight):
        targets.append(target.detach().clone())
        return (logits * 0).sum()

    head.loss_conf.forward = capture
    head.one2one_conf_target = 'hard'
    losses = head._loss(feats, samples)
    sah, mah = targets                      # SAH first, then MAH
    assert set(sah[sah > 0].tolist()) == {1.0} and int((sah > 0).sum()) == 4
    assert ((mah > 0) & (mah < 1)).any()
    assert 0.0 <= float(losses['o2o_in_o2m']) <= 1.0
    targets.clear()
    head.one2one_conf_target = 'soft'
    head._loss(feats, samples)
    soft = targets[0]
    assert int((soft > 0).sum()) == 4 and (soft[soft > 0] < 1).all()  # own OKS, random poses


@pytest.mark.parametrize('mode', ['one2many', 'one2many_topk'])
def test_modes_train_end_to_end(model_cfg, make_pose_sample, random_person, mode):
    cfg = model_cfg('n')
    cfg.head.one2one_assign = mode
    cfg.head.one2one_conf_target = 'hard'
    model = MODELS.build(cfg).train()
    losses = model.loss(torch.rand(1, 3, 128, 160),
                        [make_pose_sample(torch.stack([random_person(60, 60)]))])
    assert losses['num_pos'].item() == 1.0
    total_loss(losses).backward()
    assert model.head.one2one.conf[0][-1].weight.grad.abs().sum() > 0


def test_bad_settings_are_refused(model_cfg):
    for key, value, match in (('one2one_assign', 'mah', 'one2one_assign'),
                              ('one2one_conf_target', 'quality', 'one2one_conf_target')):
        cfg = model_cfg('n')
        cfg.head[key] = value
        with pytest.raises(ValueError, match=match):
            MODELS.build(cfg)
    cfg = model_cfg('n')
    cfg.head.one2one_assign = 'one2many'
    cfg.head.with_one2many = False
    with pytest.raises(ValueError, match='needs the one-to-many head'):
        MODELS.build(cfg)


def test_one2many_weight_hook_follows_the_iteration():
    from types import SimpleNamespace

    from erpose_mm.engine import One2ManyWeightHook
    head = SimpleNamespace(one2many_weight=1.0)
    runner = SimpleNamespace(model=SimpleNamespace(head=head), iter=0, max_iters=11)
    hook = One2ManyWeightHook(start=0.8, end=0.1)
    seen = []
    for it in (0, 5, 10):
        runner.iter = it
        hook.before_train_iter(runner, 0)
        seen.append(head.one2many_weight)
    assert seen == pytest.approx([0.8, 0.45, 0.1])


def test_sah_positive_weight_scales_only_the_positive_conf_terms(model_n, make_pose_sample,
                                                                random_person):
    import torch.nn.functional as F
    head, feats, samples, gt, one2one, one2many, one2many_res = _setup(
        model_n, make_pose_sample, random_person, 'own')
    res = head.assign_one2one(one2one, gt, one2many, one2many_res)
    plain = head.branch_loss(one2one, gt, res, 'soft')
    weighted = head.branch_loss(one2one, gt, res, 'soft', pos_weight=4.0)
    pos_b, pos_n = (res['gt_inds'] >= 0).nonzero(as_tuple=True)
    assert len(pos_b) == 4
    # the soft target at each positive, as branch_loss builds it (one positive per person)
    target = res['quality'][pos_b, pos_n]
    pos_bce = F.binary_cross_entropy_with_logits(one2one['conf_logits'][pos_b, pos_n], target,
                                                 reduction='sum')
    norm = target.sum().clamp(min=1.0)
    torch.testing.assert_close(weighted['loss_conf'] - plain['loss_conf'], 3.0 * pos_bce / norm)
    for k in ('loss_pose', 'loss_vis'):
        assert torch.equal(weighted[k], plain[k])
    cfg_head = copy.deepcopy(model_n.head)
    assert cfg_head.one2one_pos_weight == 1.0


def test_sah_target_from_the_mah_is_its_confidence_at_the_sah_cell(model_n, make_pose_sample,
                                                                   random_person):
    head, feats, samples, gt, o2o, o2m, o2m_res = _setup(model_n, make_pose_sample, random_person,
                                                         'own')
    res = head.assign_one2one(o2o, gt, o2m, o2m_res)
    swapped = head.one2many_quality(res, o2m)
    pos = res['gt_inds'] >= 0
    assert int(pos.sum()) == 4
    torch.testing.assert_close(swapped['quality'][pos], o2m['conf_logits'][pos].sigmoid())
    assert (swapped['quality'][~pos] == 0).all() and torch.equal(swapped['gt_inds'], res['gt_inds'])
    # the loss follows: the SAH's soft target is that confidence
    head.one2one_conf_target = 'one2many'
    targets = []
    orig = head.loss_conf.forward
    head.loss_conf.forward = lambda logits, target, weight: targets.append(target) or orig(
        logits, target, weight)
    try:
        head._loss(feats, samples)
    finally:
        head.loss_conf.forward = orig
    sah_target = targets[0]
    assert int((sah_target > 0).sum()) == 4
    torch.testing.assert_close(sah_target[sah_target > 0],
                               head.decode(head.one2many(feats))['conf_logits'][sah_target > 0].sigmoid())


def test_sah_target_from_the_mah_needs_a_mah(model_cfg):
    cfg = model_cfg('n')
    cfg.head.one2one_conf_target = 'one2many'
    cfg.head.with_one2many = False
    with pytest.raises(ValueError, match='needs the one-to-many'):
        MODELS.build(cfg)
