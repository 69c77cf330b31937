"""ER-Pose's per-level prediction branches: the layers of a head (the one-to-many head (MAH)
and the one-to-one head (SAH) are two of these)."""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..layers import ConvBNAct, DWConvBNAct
from .peak_filter import PeakFilter


class BranchOutputs(NamedTuple):
    """Raw per-level outputs of one :class:`ERPoseBranches` (a plain tuple too).

    * ``conf``: (B, 1, H_l, W_l) person confidence logits per level;
    * ``kpt``: (B, 3K, H_l, W_l) packed keypoint channels per level, keypoint offsets then
      visibility logits (:func:`split_keypoint_channels`);
    * ``bbox``: (B, 4, H_l, W_l) box distances per level, or None without a box branch.
    """
    conf: List[Tensor]
    kpt: List[Tensor]
    bbox: Optional[List[Tensor]] = None


def split_keypoint_channels(t: Tensor, num_keypoints: int,
                            dim: int = -1) -> Tuple[Tensor, Tensor]:
    """Views of the packed keypoint channels along ``dim``: the 2K offsets (x_0, y_0, x_1,
    y_1, ...) and the K visibility logits, in the order of the keypoint branch's output
    layer (3K channels)."""
    offsets, visibility = slice(None, 2 * num_keypoints), slice(2 * num_keypoints, None)
    if dim < 0:
        rest = (slice(None),) * (-dim - 1)
        return t[(Ellipsis, offsets) + rest], t[(Ellipsis, visibility) + rest]
    lead = (slice(None),) * dim
    return t[lead + (offsets,)], t[lead + (visibility,)]


class ERPoseBranches(nn.Module):
    """One set of per-level prediction branches (used twice: one-to-many and one-to-one).

    Per level and grid cell it predicts a person confidence logit (1), keypoint offsets
    (2K, relative to the cell centre, in stride units) and keypoint visibility logits (K),
    plus 4 box distances when ``with_bbox`` (box-driven ablation only).

    The confidence branch uses depthwise-separable convs (as YOLOv10's classification
    branch); keypoint regression keeps standard 3x3 convs (paper Fig. 3).

    ``peak_filter``: add a :class:`PeakFilter` (3-D max filter over the confidence branch's
    hidden features) whose logit is added to the confidence logit; the one-to-one head's
    option for telling a person's cell from its neighbours (needs equal widths per level,
    which ``conf_channels`` gives).

    ``kpt_prior`` (K, 2), optional: initial keypoint offsets (bias of the output layer), in
    the offset units of :meth:`ERPoseHead.decode`; see :func:`keypoint_offset_prior`.

    Shapes: list of (B, C_l, H_l, W_l) -> :class:`BranchOutputs` of lists with
    (B, 1, H_l, W_l), (B, 3K, H_l, W_l) [offsets then visibility], and (B, 4, H_l, W_l) or
    None.
    """

    def __init__(self, in_channels: Sequence[int], num_keypoints: int, kpt_channels: int,
                 conf_channels: int, strides: Sequence[int], with_bbox: bool = False,
                 bbox_channels: int = 64, kpt_prior: Optional[np.ndarray] = None,
                 peak_filter: bool = False) -> None:
        super().__init__()
        K = num_keypoints
        self.conf = nn.ModuleList(
            nn.Sequential(DWConvBNAct(c, c, 3), ConvBNAct(c, conf_channels, 1),
                          DWConvBNAct(conf_channels, conf_channels, 3),
                          ConvBNAct(conf_channels, conf_channels, 1),
                          nn.Conv2d(conf_channels, 1, 1)) for c in in_channels)
        self.peak = PeakFilter(conf_channels, len(in_channels)) if peak_filter else None
        self.kpt = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, kpt_channels, 3), ConvBNAct(kpt_channels, kpt_channels, 3),
                          nn.Conv2d(kpt_channels, 3 * K, 1)) for c in in_channels)
        self.bbox = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, bbox_channels, 3), ConvBNAct(bbox_channels, bbox_channels, 3),
                          nn.Conv2d(bbox_channels, 4, 1)) for c in in_channels) if with_bbox else None
        for seq, s in zip(self.conf, strides):
            # YOLOv8 prior: ~5 people per 640x640 image at this level
            nn.init.constant_(seq[-1].bias, math.log(5 / (640 / s) ** 2))
        for seq in self.kpt:
            nn.init.normal_(seq[-1].weight, std=0.01)
            nn.init.zeros_(seq[-1].bias)
            if kpt_prior is not None:
                # offsets start at a mean pose instead of the cell centre (offset channels
                # are x0, y0, x1, y1, ...; visibility logits stay at 0)
                with torch.no_grad():
                    offsets, _ = split_keypoint_channels(seq[-1].bias, K, dim=0)
                    offsets.copy_(torch.as_tensor(kpt_prior, dtype=torch.float32).reshape(-1))

    def forward(self, feats: Sequence[Tensor]) -> BranchOutputs:
        if self.peak is None:
            confs = [m(x) for m, x in zip(self.conf, feats)]
        else:
            hidden = [m[:-1](x) for m, x in zip(self.conf, feats)]
            confs = [m[-1](h) + p for m, h, p in zip(self.conf, hidden, self.peak(hidden))]
        kpts = [m(x) for m, x in zip(self.kpt, feats)]
        bboxes = [m(x) for m, x in zip(self.bbox, feats)] if self.bbox is not None else None
        return BranchOutputs(conf=confs, kpt=kpts, bbox=bboxes)
