"""Optional duplicate removal over the one-to-one head's top-k: one parallel OKS pass.

ER-Pose decodes NMS-free (one top-k over the one-to-one head). :func:`dedupe_topk` is an
opt-in fallback for models that still emit duplicates: with fixed shapes and matrix
operations only (no loop, no sequential NMS, no data-dependent shape), so the same code
runs in PyTorch, in the ONNX export and in MMDeploy. Off by default (``dedupe_thr=None``).

Semantics (one parallel pass, not greedy NMS): candidate ``j`` is dropped when some valid
candidate ``i`` ranked above it has ``OKS(i, j) > thr``, whether or not ``i`` is itself
dropped. With A > B > C, ``OKS(A, B) > thr``, ``OKS(B, C) > thr`` and ``OKS(A, C) <= thr``,
greedy OKS-NMS keeps A and C; this pass keeps only A (C's suppressor B is suppressed, yet
still suppresses C). It never keeps a pair of duplicates that greedy NMS would keep; it
can drop more. One pass is idempotent: running it again on its own output drops nothing.

OKS: COCO's ``exp(-d^2 / (2 s^2 (2 sigma)^2))`` averaged over **all K keypoints**, with
``s^2 = 0.53 x`` the keypoint box area of the higher-ranked candidate ``i`` (COCO's mean
segmentation / box area ratio, as in the heads' targets). All keypoints rather than the
predicted-visible ones (keypoint score > 0.5): ER-Pose regresses every keypoint of every
candidate, and two duplicates regress the same full pose, occluded keypoints included;
a visibility threshold would make the similarity jump when a keypoint score crosses 0.5,
so PyTorch, ONNX Runtime and the numpy runner could disagree on near-0.5 scores. Counting
the occluded guesses of two different overlapping people only lowers their OKS, i.e.
errs towards keeping both.

:func:`erpose_mm.runtime.onnx_runner.dedupe_rows` is the same maths in numpy.
"""
from typing import Dict, Optional

import torch
from torch import Tensor

from ..runtime.constants import AREA_PER_BOX


def check_dedupe_thr(thr: Optional[float], name: str = 'dedupe_thr') -> Optional[float]:
    """None, or a float in (0, 1]; raise ValueError (one line) otherwise."""
    if thr is None:
        return None
    thr = float(thr)
    if not 0.0 < thr <= 1.0:
        raise ValueError(f'{name} must be in (0, 1] (an OKS threshold) or None, got {thr}')
    return thr


def candidate_oks(keypoints: Tensor, kpt_boxes: Tensor, sigmas: Tensor,
                  eps: float = 1e-9) -> Tensor:
    """Pairwise OKS between the candidates of each image.

    Args:
        keypoints: (B, k, K, 2).
        kpt_boxes: (B, k, 4) xyxy keypoint boxes; row ``i``'s box sets the scale.
        sigmas: (K,) per-keypoint sigmas.

    Returns:
        (B, k, k) ``oks[b, i, j]``: candidate ``j`` against candidate ``i`` with
        ``s^2 = 0.53 x area(box_i)`` (each side clamped to >= 1 px), all K keypoints.
    """
    k2 = (2 * sigmas.to(keypoints)) ** 2                                     # (K,)
    wh = (kpt_boxes[..., 2:] - kpt_boxes[..., :2]).clamp(min=1)              # (B, k, 2)
    area = AREA_PER_BOX * wh[..., 0] * wh[..., 1]                            # (B, k)
    neg_inv = -1.0 / (2 * k2 * (area[..., None] + eps))                     # (B, k, K)
    x, y = keypoints[..., 0], keypoints[..., 1]                              # (B, k, K)
    dx = x[:, :, None] - x[:, None]                                          # (B, k, k, K)
    dy = y[:, :, None] - y[:, None]
    # x / y apart and a product by the reciprocal scale: no Pow, no ReduceSum over a
    # size-2 axis in the exported graph
    return torch.exp((dx * dx + dy * dy) * neg_inv[:, :, None]).mean(-1)


def dedupe_keep(scores: Tensor, keypoints: Tensor, kpt_boxes: Tensor, valid: Tensor,
                sigmas: Tensor, thr: float) -> Tensor:
    """One parallel suppression pass (see the module docstring).

    Args:
        scores: (B, k), sorted in descending order along k (as the top-k returns them).
        keypoints: (B, k, K, 2); kpt_boxes: (B, k, 4) xyxy; valid: (B, k) bool.
        sigmas: (K,); thr: OKS threshold in (0, 1].

    Returns:
        (B, k) bool: ``valid`` and not suppressed by a valid higher-ranked candidate.
    """
    k = scores.shape[1]
    oks = candidate_oks(keypoints, kpt_boxes, sigmas)                        # (B, k, k)
    idx = torch.arange(k, device=scores.device)
    above = idx[:, None] < idx[None, :]       # strict upper triangle: row i ranked above j
    hit = (oks > thr) & above[None] & valid[:, :, None]                      # (B, i, j)
    suppressed = hit.to(scores.dtype).amax(1) > 0                            # any over rows
    return valid & ~suppressed


def dedupe_topk(top: Dict[str, Tensor], sigmas: Tensor, thr: float,
                kpt_boxes: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """:func:`dedupe_keep` applied to a batched top-k, keeping its fixed shape.

    Args:
        top: ``scores`` (B, k) sorted descending, ``keypoints`` (B, k, K, 2), ``valid``
            (B, k) bool, and any other (B, k, ...) tensors (``keypoint_scores``,
            ``bboxes``), all reordered alike.
        sigmas: (K,); thr: OKS threshold in (0, 1].
        kpt_boxes: (B, k, 4) keypoint boxes for the OKS scale (default: ``top['bboxes']``).

    Returns:
        the same keys and shapes; dropped rows become invalid and move behind the kept
        ones. Both groups keep their order: a top-k over the rank key
        ``keep * k + (k - index)``, which orders rows as the masked scores do (kept first,
        by score), with ties (equal scores, the invalid rows) in their input order.
    """
    thr = check_dedupe_thr(thr)
    boxes = top['bboxes'] if kpt_boxes is None else kpt_boxes
    keep = dedupe_keep(top['scores'], top['keypoints'], boxes, top['valid'], sigmas, thr)
    k = keep.shape[1]
    rank = k - torch.arange(k, device=keep.device, dtype=top['scores'].dtype)   # (k,)
    _, order = (keep.to(rank.dtype) * k + rank[None]).topk(k, dim=1)            # (B, k)
    out = {}
    for name, t in top.items():
        t = keep if name == 'valid' else t
        index = order.view(order.shape + (1, ) * (t.dim() - 2)).expand_as(t)
        out[name] = t.gather(1, index)
    return out
