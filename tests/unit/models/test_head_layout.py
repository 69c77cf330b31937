"""The one-to-one head's layout: which losses reach which parameters."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample


def _model(**head):
    cfg = Config.fromfile('configs/erpose/erpose-n_coco-640.py').model
    cfg.head.update(head)
    torch.manual_seed(0)
    return MODELS.build(cfg).train()


def _sample():
    g = torch.Generator().manual_seed(0)
    kpts = torch.tensor([[50., 60], [110, 60]])[:, None] + torch.randn(2, 17, 2, generator=g) * 15
    boxes = torch.cat([kpts.amin(1), kpts.amax(1)], -1)
    ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(160, 128)))
    ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=torch.ones(2, 17),
                                         bboxes=boxes, areas=(boxes[:, 2:] - boxes[:, :2]).prod(-1))
    return ds


def _grads(model, loss):
    model.zero_grad()
    loss.backward(retain_graph=True)

    def nonzero(mod):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())
    return dict(backbone=nonzero(model.backbone), neck=nonzero(model.neck),
                sah=nonzero(model.head.one2one), sah_kpt=nonzero(model.head.one2one.kpt),
                sah_conf=nonzero(model.head.one2one.conf), mah_conf=nonzero(model.head.one2many.conf))


def test_paper_layout_is_the_default_sah_a_separate_copy():
    cfg = Config.fromfile('configs/erpose/erpose-n_coco-640.py').model.head
    assert cfg.share_regression is False and cfg.detach_one2one is True
    head = _model().head
    assert not head.share_regression
    assert head.one2one.kpt is not head.one2many.kpt


@pytest.mark.parametrize('share', [False, True])
def test_detached_sah_losses_put_no_gradient_into_backbone_or_neck(share):
    model = _model(share_regression=share, detach_one2one=True)
    losses = model.loss(torch.rand(1, 3, 128, 160), [_sample()])
    sah = losses['loss_pose'] + losses['loss_vis'] + losses['loss_conf']
    g = _grads(model, sah)
    assert not g['backbone'] and not g['neck'], g
    assert g['sah_kpt'] and g['sah_conf'], g
    assert not g['mah_conf'], g
    # the MAH losses do train the backbone and neck
    mah = losses['loss_pose_o2m'] + losses['loss_vis_o2m'] + losses['loss_conf_o2m']
    g = _grads(model, mah)
    assert g['backbone'] and g['neck'], g
    # with share_regression the MAH pose loss trains the same keypoint module the SAH uses
    assert g['sah_kpt'] == share, g


@pytest.mark.parametrize('share', [False, True])
def test_undetached_sah_losses_reach_the_backbone(share):
    """The check above can fail: without detaching, the SAH pose loss reaches the backbone."""
    model = _model(share_regression=share, detach_one2one=False)
    losses = model.loss(torch.rand(1, 3, 128, 160), [_sample()])
    assert _grads(model, losses['loss_pose'])['backbone']


def test_shared_layout_shares_keypoint_branch_not_confidence():
    """share_regression=True: one keypoint module serves MAH and SAH; the confidence branches
    stay separate; the inference model is the same size either way."""
    shared = _model(share_regression=True)
    separate = _model(share_regression=False)
    head = shared.head
    assert head.one2many.kpt is head.one2one.kpt
    assert head.one2many.conf is not head.one2one.conf

    def n_infer(m):
        m = copy.deepcopy(m)
        m.head.switch_to_deploy()
        return sum(p.numel() for p in m.parameters())
    assert n_infer(shared) == n_infer(separate)
    assert sum(p.numel() for p in shared.parameters()) < \
        sum(p.numel() for p in separate.parameters())

