"""Shared YOLOv8-style building blocks (Conv-BN-SiLU, Bottleneck, C2f, SPPF, DWConv) and the
YOLOv8 width/depth scaling rules.

Kept in one small module because the backbone, the neck and the head all use them. Each
block has a ``fuse()`` that folds BatchNorm into the convolution for deployment.
"""
import math
from typing import Optional

import torch
import torch.nn as nn


def autopad(k: int, p: Optional[int] = None, d: int = 1) -> int:
    """'same' padding for an odd kernel ``k`` with dilation ``d``."""
    if p is None:
        p = d * (k - 1) // 2
    return p


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU, as Ultralytics ``Conv``.

    Shapes: (B, c_in, H, W) -> (B, c_out, H / s, W / s).
    """

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: Optional[int] = None,
                 g: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, autopad(k, p), groups=g, bias=False)
        # YOLO BN settings: eps 1e-3, momentum 0.03.
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BN into the conv (inference only); idempotent."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        conv, bn = self.conv, self.bn
        w = conv.weight
        std = (bn.running_var + bn.eps).sqrt()
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, conv.dilation, conv.groups, bias=True).to(w.device)
        fused.weight.copy_(w * (bn.weight / std).reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * bn.weight / std)
        self.conv = fused
        self.bn = nn.Identity()


class DWConvBNAct(ConvBNAct):
    """Depthwise ConvBNAct (groups = gcd(c_in, c_out))."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1, act: bool = True) -> None:
        import math
        super().__init__(c_in, c_out, k, s, g=math.gcd(c_in, c_out), act=act)


class Bottleneck(nn.Module):
    """Two 3x3 ConvBNAct with an optional residual (YOLOv8 ``Bottleneck``, e=1.0)."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, e: float = 1.0) -> None:
        super().__init__()
        c_ = int(c_out * e)
        self.cv1 = ConvBNAct(c_in, c_, 3, 1)
        self.cv2 = ConvBNAct(c_, c_out, 3, 1)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8 C2f: split, ``n`` chained bottlenecks, concatenate every intermediate output.

    Shapes: (B, c_in, H, W) -> (B, c_out, H, W).
    """

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = False,
                 e: float = 0.5) -> None:
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = ConvBNAct(c_in, 2 * self.c, 1, 1)
        self.cv2 = ConvBNAct((2 + n) * self.c, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling - fast (three chained 5x5 max-pools), as YOLOv5/v8."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        c_ = c_in // 2
        self.cv1 = ConvBNAct(c_in, c_, 1, 1)
        self.cv2 = ConvBNAct(c_ * 4, c_out, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every ConvBNAct's BatchNorm into its conv, in place. Returns ``module``."""
    for m in module.modules():
        if isinstance(m, ConvBNAct):
            m.fuse()
    return module


def make_divisible(x: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` >= ``x``."""
    return int(math.ceil(x / divisor) * divisor)


def scale_channels(c: int, widen_factor: float, max_channels: int) -> int:
    """YOLOv8 width scaling: ``make_divisible(min(c, max_channels) * widen_factor)``."""
    return make_divisible(min(c, max_channels) * widen_factor, 8)


def scale_depth(n: int, deepen_factor: float) -> int:
    """YOLOv8 depth scaling of a block count (1 stays 1)."""
    return max(round(n * deepen_factor), 1) if n > 1 else n
