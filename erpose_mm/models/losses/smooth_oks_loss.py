"""Smooth-OKS loss (ER-Pose Eq. 6-9) with the Gaussian-OKS and Laplace variants of Table IX."""
import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from mmpose.registry import MODELS

MODES = ('soks', 'gaussian', 'laplace')


def keypoint_similarity(u: Tensor, mode: str = 'soks') -> Tensor:
    """Per-keypoint similarity of the normalised error ``u = d / (s k)``.

    - 'gaussian': ``exp(-u^2 / 2)`` (the OKS term, Eq. 6-7);
    - 'laplace':  ``exp(-u)``;
    - 'soks':     ``exp(-u^2 / 2)`` for ``u <= 1`` and ``exp(1/2 - u)`` for ``u > 1`` (Eq. 8);
      both pieces equal ``e^{-1/2}`` with slope ``-e^{-1/2}`` at ``u = 1``.
    """
    if mode == 'gaussian':
        return torch.exp(-0.5 * u * u)
    if mode == 'laplace':
        return torch.exp(-u)
    if mode == 'soks':
        # torch.where evaluates both branches; clamp each to its domain so neither
        # overflows nor produces NaN gradients.
        gauss = torch.exp(-0.5 * u.clamp(max=1.0) ** 2)
        lap = torch.exp(0.5 - u.clamp(min=1.0))
        return torch.where(u <= 1.0, gauss, lap)
    raise ValueError(f'keypoint_similarity: mode must be one of {MODES}, got {mode!r}')


@MODELS.register_module()
class SmoothOKSLoss(nn.Module):
    """``L_pose = 1 - mean over labelled keypoints of SOKS(u)``, averaged over people.

    ``u_i = d_i / (s * k_i)`` with ``s = sqrt(area)`` and ``k_i = 2 * sigma_i`` (so that the
    Gaussian mode is exactly one minus COCO's OKS).

    Args:
        sigmas: per-keypoint OKS sigmas, or None to read them from ``metainfo``.
        metainfo: an MMPose dataset meta file (e.g. 'configs/_base_/datasets/coco.py').
        num_keypoints: used when neither is given: ``k_i = 1 / K`` (paper, Sec. III-C).
        mode: 'soks' (default), 'gaussian' or 'laplace' (Table IX).
        loss_weight: lambda_pose (15 in the paper).

    Shapes: ``pred`` / ``target`` (P, K, 2), ``target_visible`` (P, K), ``areas`` (P,);
    returns a scalar (``reduction='mean'``) or (P,) (``'none'``). ``normalizer``, when
    given, replaces the mean's denominator (the number of people with a labelled keypoint),
    e.g. by its mean over distributed ranks (:func:`erpose_mm.utils.dist.rank_mean_normalizers`).
    """

    def __init__(self, sigmas: Optional[Sequence[float]] = None,
                 metainfo: Optional[str] = None, num_keypoints: Optional[int] = None,
                 mode: str = 'soks', loss_weight: float = 15.0, reduction: str = 'mean',
                 eps: float = 1e-8) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'SmoothOKSLoss: mode must be one of {MODES}, got {mode!r}')
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'SmoothOKSLoss: bad reduction {reduction!r}')
        if sigmas is None and metainfo is not None:
            from mmpose.datasets.datasets.utils import parse_pose_metainfo
            sigmas = parse_pose_metainfo(dict(from_file=metainfo))['sigmas']
        if sigmas is None:
            if not num_keypoints:
                raise ValueError('SmoothOKSLoss needs sigmas, metainfo or num_keypoints')
            # k_i = 1/K when a dataset gives no statistics (k = 2 sigma)
            sigmas = np.full(num_keypoints, 0.5 / num_keypoints)
        self.register_buffer('sigmas', torch.as_tensor(np.asarray(sigmas), dtype=torch.float32),
                             persistent=False)
        self.mode = mode
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, target_visible: Tensor,
                areas: Tensor, normalizer: Optional[Tensor] = None) -> Tensor:
        if pred.shape[-2] != self.sigmas.numel():
            raise ValueError(f'SmoothOKSLoss: predictions have {pred.shape[-2]} keypoints but '
                             f'{self.sigmas.numel()} sigmas are configured')
        k = 2 * self.sigmas.to(pred)
        s = areas.to(pred).clamp(min=self.eps).sqrt()
        d = (pred - target).pow(2).sum(-1).add(self.eps).sqrt()  # (P, K)
        u = d / (s[:, None] * k[None])
        sim = keypoint_similarity(u, self.mode)
        m = (target_visible > 0).to(pred)
        per_person = 1.0 - (sim * m).sum(-1) / m.sum(-1).clamp(min=1)
        # people without labelled keypoints contribute nothing
        per_person = per_person * (m.sum(-1) > 0).to(pred)
        if self.reduction == 'mean' and normalizer is not None:
            loss = per_person.sum() / normalizer
        elif self.reduction == 'mean':
            loss = per_person.sum() / (m.sum(-1) > 0).sum().clamp(min=1)
        elif self.reduction == 'sum':
            loss = per_person.sum()
        else:
            loss = per_person
        return loss * self.loss_weight
