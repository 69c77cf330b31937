"""YOLOv8-style CSPDarknet backbone (C2f stages + SPPF), scaled by depth/width factors."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.registry import MODELS

from ..layers import C2f, SPPF, ConvBNAct, scale_channels, scale_depth


@MODELS.register_module()
class YOLOv8CSPDarknet(BaseModule):
    """CSPDarknet with C2f blocks and SPPF, as the YOLOv8 backbone.

    Base architecture (before scaling): stem 64 -> stages [128, 256, 512, 1024] with
    [3, 6, 6, 3] bottlenecks; stage 4 ends in SPPF. Strides of the stage outputs are
    4 / 8 / 16 / 32.

    Args:
        deepen_factor: depth multiple (n/s 0.33, m 0.67, l 1.0).
        widen_factor: width multiple (n 0.25, s 0.5, m 0.75, l 1.0).
        max_channels: channel cap before widening (n/s 1024, m 768, l 512).
        out_indices: which stages to return, 1..4 -> (P2, P3, P4, P5).

    Shapes: (B, 3, H, W) -> tuple of (B, C_i, H / 2^(i+1), W / 2^(i+1)) for i in out_indices.
    """

    arch = [(128, 3), (256, 6), (512, 6), (1024, 3)]

    def __init__(self, deepen_factor: float = 0.33, widen_factor: float = 0.25,
                 max_channels: int = 1024, out_indices: Sequence[int] = (2, 3, 4),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_indices = tuple(out_indices)
        ch = lambda c: scale_channels(c, widen_factor, max_channels)  # noqa: E731
        c_prev = ch(64)
        self.stem = ConvBNAct(3, c_prev, 3, 2)
        self.stages = nn.ModuleList()
        self.out_channels = []
        for i, (c, n) in enumerate(self.arch):
            c_out = ch(c)
            layers = [ConvBNAct(c_prev, c_out, 3, 2),
                      C2f(c_out, c_out, scale_depth(n, deepen_factor), shortcut=True)]
            if i == len(self.arch) - 1:
                layers.append(SPPF(c_out, c_out, 5))
            self.stages.append(nn.Sequential(*layers))
            self.out_channels.append(c_out)
            c_prev = c_out
        self.out_channels = [self.out_channels[i - 1] for i in self.out_indices]

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            _yolo_init(self)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _yolo_init(module: nn.Module) -> None:
    """Ultralytics' ``initialize_weights``: PyTorch default conv init, BN eps/momentum kept."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-3, 0.03
