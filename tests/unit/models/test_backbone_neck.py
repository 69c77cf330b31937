"""Backbone and neck: strides and channels of the YOLOv8 CSPDarknet / PAN features."""
import torch
from mmpose.registry import MODELS


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
