"""YOLOv8 PAN neck (top-down FPN + bottom-up PAN with C2f fusion), for 2 or 3 levels."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.registry import MODELS

from ..layers import C2f, ConvBNAct, scale_channels, scale_depth


@MODELS.register_module()
class YOLOv8PAFPN(BaseModule):
    """YOLOv8 path-aggregation neck over the last ``len(in_channels)`` backbone levels.

    With three inputs (P3, P4, P5) it is exactly the YOLOv8 neck. With two (P4, P5) the
    top-down path stops at P4, which is what ER-Pose-n uses (paper Table V): no P3 fusion
    is computed at all, rather than computed and discarded.

    Args:
        in_channels: channels of the inputs, low to high level (already width-scaled).
        out_channels: unscaled YOLOv8 output channels per level, e.g. (256, 512, 1024)
            for (P3, P4, P5); scaled with ``widen_factor`` / ``max_channels``.
        deepen_factor / widen_factor / max_channels: as the backbone.

    Shapes: tuple of (B, in_channels[i], H_i, W_i) -> tuple of (B, out_channels[i], H_i, W_i).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int],
                 deepen_factor: float = 0.33, widen_factor: float = 0.25,
                 max_channels: int = 1024, num_csp_blocks: int = 3, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert len(in_channels) == len(out_channels) >= 2
        n = scale_depth(num_csp_blocks, deepen_factor)
        outs = [scale_channels(c, widen_factor, max_channels) for c in out_channels]
        self.num_levels = len(in_channels)
        self.upsample = nn.Upsample(scale_factor=2, mode='nearest')
        # top-down: from the top level down to the lowest one
        self.top_down = nn.ModuleList()
        c_top = in_channels[-1]
        for i in range(self.num_levels - 2, -1, -1):
            self.top_down.append(C2f(c_top + in_channels[i], outs[i], n, shortcut=False))
            c_top = outs[i]
        # bottom-up: from the lowest level back to the top one
        self.downsample = nn.ModuleList()
        self.bottom_up = nn.ModuleList()
        c_low = outs[0]
        for i in range(1, self.num_levels):
            # the lateral input at level i is the top-down output (or the raw top input)
            c_lat = outs[i] if i < self.num_levels - 1 else in_channels[-1]
            self.downsample.append(ConvBNAct(c_low, c_low, 3, 2))
            self.bottom_up.append(C2f(c_low + c_lat, outs[i], n, shortcut=False))
            c_low = outs[i]
        self.out_channels = outs

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        assert len(inputs) == self.num_levels
        lateral: List[torch.Tensor] = [None] * self.num_levels  # type: ignore
        lateral[-1] = inputs[-1]
        x = inputs[-1]
        for j, i in enumerate(range(self.num_levels - 2, -1, -1)):
            x = self.top_down[j](torch.cat([self.upsample(x), inputs[i]], 1))
            lateral[i] = x
        outs = [x]
        for i in range(1, self.num_levels):
            x = self.bottom_up[i - 1](torch.cat([self.downsample[i - 1](x), lateral[i]], 1))
            outs.append(x)
        return tuple(outs)
