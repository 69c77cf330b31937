"""A learned 3-D max filter for the one-to-one head's (SAH) confidence (DeFCN's 3DMF, Wang et
al., CVPR 2021): lets the SAH compare a cell's features with the strongest features around it, in
space and across neighbouring pyramid levels, so it can tell the cell that should fire for a
person from its neighbours without any NMS.

A convolution sees its neighbours only through smooth, shared weights, so neighbouring cells of
one person get nearly the same features and nearly the same score: one-to-one training then
pulls their scores down together instead of separating them. The filter hands the branch the
local maximum of each channel explicitly; ``h - max`` is 0 exactly where a cell is a per-channel
peak, which a 1x1 conv can turn into a "this is the peak" logit.
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..layers import ConvBNAct


def cross_level_max(feats: Sequence[Tensor], kernel: int = 3) -> List[Tensor]:
    """Per level, the max over a ``kernel x kernel`` window of that level and of the two
    adjacent levels resampled to its grid (a 3-D max filter over scale and space).

    Args:
        feats: per level (B, C, H_l, W_l), finest first, each level about half the size of the
            previous one (strides 8/16/32 or 16/32); all with the same C.
        kernel: spatial window (odd).

    Returns:
        per level (B, C, H_l, W_l).
    """
    out = []
    for i, x in enumerate(feats):
        h, w = x.shape[-2:]
        stack = [x]
        if i > 0:  # the finer level, max-pooled onto this grid
            finer = F.max_pool2d(feats[i - 1], 2, 2, ceil_mode=True)
            stack.append(finer[..., :h, :w])
        if i + 1 < len(feats):  # the coarser level, repeated onto this grid
            coarser = F.interpolate(feats[i + 1], scale_factor=2.0, mode='nearest')
            stack.append(coarser[..., :h, :w])
        m = stack[0]
        for s in stack[1:]:
            m = torch.maximum(m, s)
        out.append(F.max_pool2d(m, kernel, 1, kernel // 2))
    return out


class PeakFilter(nn.Module):
    """Extra confidence logit per cell from its features and their 3-D max-filtered neighbourhood.

    Its output is *added* to the branch's confidence logit; the last conv starts at zero, so a
    head with the filter starts as the same function as one without it.

    Shapes: list of (B, C, H_l, W_l) -> list of (B, 1, H_l, W_l).
    """

    def __init__(self, channels: int, num_levels: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f'PeakFilter: kernel must be odd, got {kernel}')
        self.kernel = kernel
        self.layers = nn.ModuleList(
            nn.Sequential(ConvBNAct(2 * channels, channels, 1), nn.Conv2d(channels, 1, 1))
            for _ in range(num_levels))
        for seq in self.layers:
            nn.init.zeros_(seq[-1].weight)
            nn.init.zeros_(seq[-1].bias)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        peaks = cross_level_max(feats, self.kernel)
        return [m(torch.cat([x, x - p], 1)) for m, x, p in zip(self.layers, feats, peaks)]
