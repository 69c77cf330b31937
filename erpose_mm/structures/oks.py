"""Keypoint similarity and its uses, shared by the models, the evaluation and the tools:
COCO OKS (pairwise and batched), box IoU, boxes from keypoints, greedy OKS-NMS."""
from typing import Optional

import torch
from torch import Tensor


def pairwise_oks(pred_kpts: Tensor, gt_kpts: Tensor, gt_vis: Tensor, gt_areas: Tensor,
                 sigmas: Tensor, eps: float = 1e-9) -> Tensor:
    """OKS (paper Eq. 2, COCO definition) between every person and every prediction.

    ``OKS = sum_i exp(-d_i^2 / (2 s^2 k_i^2)) [v_i > 0] / sum_i [v_i > 0]`` with
    ``s^2 = area`` and ``k_i = 2 * sigma_i``, exactly as pycocotools' COCOeval.

    Args:
        pred_kpts: (N, K, 2) predicted keypoints.
        gt_kpts: (G, K, 2) ground-truth keypoints.
        gt_vis: (G, K) visibility (> 0 means labelled).
        gt_areas: (G,) person areas s^2.
        sigmas: (K,) per-keypoint sigmas.

    Returns:
        (G, N) OKS; 0 for a person without labelled keypoints.
    """
    k2 = (2 * sigmas.to(pred_kpts)) ** 2  # (K,)
    d2 = (gt_kpts[:, None] - pred_kpts[None]).pow(2).sum(-1)  # (G, N, K)
    e = d2 / (2 * k2 * (gt_areas[:, None, None] + eps))
    mask = (gt_vis > 0).to(pred_kpts)[:, None]  # (G, 1, K)
    return (torch.exp(-e) * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def batched_oks(pred_kpts: Tensor, gt_kpts: Tensor, gt_vis: Tensor, gt_areas: Tensor,
                sigmas: Tensor, eps: float = 1e-9, max_elements: int = 1 << 24) -> Tensor:
    """:func:`pairwise_oks` for a padded batch: (B, N, K, 2) x (B, G, K, 2) -> (B, G, N).

    The (B, G, N, K) intermediate is built in chunks of keypoints so that it never holds more
    than about ``max_elements`` values (at the paper's batch 32 and 8400 cells a full one is
    ~100 M floats); the number of dispatched ops grows with K / chunk, not with B.

    Args:
        pred_kpts: (B, N, K, 2); gt_kpts: (B, G, K, 2); gt_vis: (B, G, K) (> 0 labelled);
        gt_areas: (B, G) person areas s^2; sigmas: (K,).

    Returns:
        (B, G, N) OKS; 0 for a person without labelled keypoints (and for padding).
    """
    B, N, K, _ = pred_kpts.shape
    G = gt_kpts.shape[1]
    k2 = (2 * sigmas.to(pred_kpts)) ** 2                                   # (K,)
    mask = (gt_vis > 0).to(pred_kpts)                                      # (B, G, K)
    inv = 1.0 / (2 * k2.view(1, 1, K) * (gt_areas.unsqueeze(-1) + eps))   # (B, G, K)
    chunk = max(1, min(K, max_elements // max(B * G * N, 1)))
    total = pred_kpts.new_zeros(B, G, N)
    for k0 in range(0, K, chunk):
        sl = slice(k0, k0 + chunk)
        d2 = (gt_kpts[:, :, None, sl] - pred_kpts[:, None, :, sl]).pow(2).sum(-1)  # (B,G,N,c)
        total = total + (torch.exp(-d2 * inv[:, :, None, sl]) * mask[:, :, None, sl]).sum(-1)
    return total / mask.sum(-1, keepdim=True).clamp(min=1)


def batched_bbox_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-9) -> Tensor:
    """IoU of (B, G, 4) against (B, N, 4) xyxy boxes -> (B, G, N)."""
    lt = torch.maximum(boxes1[:, :, None, :2], boxes2[:, None, :, :2])
    rb = torch.minimum(boxes1[:, :, None, 2:], boxes2[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    a1 = (boxes1[..., 2:] - boxes1[..., :2]).clamp(min=0).prod(-1)
    a2 = (boxes2[..., 2:] - boxes2[..., :2]).clamp(min=0).prod(-1)
    return inter / (a1[:, :, None] + a2[:, None] - inter + eps)


def pairwise_bbox_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-9) -> Tensor:
    """IoU of (G, 4) against (N, 4) xyxy boxes -> (G, N)."""
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    a1 = (boxes1[:, 2:] - boxes1[:, :2]).clamp(min=0).prod(-1)
    a2 = (boxes2[:, 2:] - boxes2[:, :2]).clamp(min=0).prod(-1)
    return inter / (a1[:, None] + a2[None] - inter + eps)


def keypoints_to_bboxes(kpts: Tensor, vis: Optional[Tensor] = None) -> Tensor:
    """Tight xyxy boxes around keypoints: (..., K, 2) -> (..., 4).

    Keypoints with ``vis <= 0`` are left out when ``vis`` is given (a box with no
    remaining keypoint falls back to all keypoints).
    """
    if vis is None:
        return torch.cat([kpts.amin(-2), kpts.amax(-2)], -1)
    m = (vis > 0).unsqueeze(-1)
    any_m = m.any(-2)
    big = torch.finfo(kpts.dtype).max
    lo = torch.where(m, kpts, kpts.new_tensor(big)).amin(-2)
    hi = torch.where(m, kpts, kpts.new_tensor(-big)).amax(-2)
    lo = torch.where(any_m, lo, kpts.amin(-2))
    hi = torch.where(any_m, hi, kpts.amax(-2))
    return torch.cat([lo, hi], -1)


def oks_nms(keypoints: Tensor, scores: Tensor, bboxes: Tensor, sigmas: Tensor,
            thr: float) -> Tensor:
    """Greedy OKS-NMS: indices of the kept people, by descending score.

    A person is suppressed when its OKS with an already kept, higher-scoring one exceeds
    ``thr``; the kept person's box area is the OKS scale. Shapes: ``keypoints`` (M, K, 2),
    ``scores`` (M,), ``bboxes`` (M, 4) xyxy, ``sigmas`` (K,); returns (M',) long.
    """
    if scores.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    areas = (bboxes[:, 2:] - bboxes[:, :2]).clamp(min=1).prod(-1)
    order = scores.argsort(descending=True)
    vis = torch.ones(keypoints.shape[:2], device=keypoints.device)
    oks = pairwise_oks(keypoints[order], keypoints[order], vis, areas[order], sigmas)
    suppressed = torch.zeros(len(order), dtype=torch.bool, device=keypoints.device)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] > thr
    return order[torch.tensor(keep, dtype=torch.long, device=keypoints.device)]
