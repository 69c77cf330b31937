"""Task Alignment Error (TAE), paper Sec. III-B (Eq. 4-5) and Sec. IV-E (Fig. 11-12).

For one image with ``N`` annotated people ``g_1..g_N`` and ``M`` dense candidate poses
``y_1..y_M`` (for ER-Pose: the decoded keypoints of *every* grid cell of the one-to-one
head, before the top-k selection), the paper defines

* ``S in R^{N x M}``, ``S_ij = OKS(g_i, y_j)`` (COCO OKS, :func:`oks_matrix`);
* the OKS-optimal injective assignment (Eq. 4)
  ``P* = argmax_{P in I(N, M)} sum_i S_{i, P(i)}``, solved with the Hungarian algorithm
  (:func:`optimal_assignment`); ``y*_i = y_{P*(i)}``;
* ``TAE = sum_i OKS(g_i, y*_i) - OKS(g_i, y^_i)`` (Eq. 5), with ``y^_i`` the prediction
  that inference actually selects for ``g_i``.

Definitions made precise here (the paper leaves them implicit):

``y^_i`` - the *selected* prediction (:func:`greedy_matching`). The model's final outputs
    (ER-Pose: NMS-free top-k of the confidences; box-driven baselines: after NMS) are
    matched to the people the way COCOeval matches detections, but with one low OKS
    floor instead of COCOeval's thresholds 0.5:0.95: outputs are visited in descending score order (stable sort, truncated to
    ``max_dets``, COCO keypoints use 20) and each takes the still-unmatched person it has
    the highest OKS with, provided that OKS is ``> min_oks``. A person left unmatched
    gets ``OKS(g_i, y^_i) = 0``, i.e. a missed person contributes its whole optimal OKS
    to the TAE. ``min_oks`` (default :data:`DEFAULT_MIN_OKS` = 0.1) is a noise floor,
    not COCO's 0.5: without it (0, COCOeval with a zero threshold) a confident output
    for somebody else (an unannotated or ignored person, a false positive) would "match"
    the first free person at an OKS of ~1e-80 and push that person's real output out,
    counting the person as missed. Outputs of other, non-overlapping people have OKS
    ~0; 0.1 keeps every output that is plausibly a (poor) estimate of the person.

Ignored people - people without any labelled keypoint (COCOeval ignores them for
    keypoints) and, when given, ``gt_ignore`` (e.g. ``iscrowd``) are removed before both
    matchings: they neither count in ``N`` nor take candidates or outputs.

More people than candidates (``N > M``) - an injective map does not exist; the optimum
    is then the maximum-weight matching of size ``M`` and unmatched people get 0.

Sign - per person ``OKS(g_i, y*_i) - OKS(g_i, y^_i)`` may be negative (the optimum
    maximises the *sum*, it can give a person a worse candidate than the one it was
    selected). When the outputs are a subset of the candidates (the case for ER-Pose) the
    per-image sum is always ``>= 0``, because the greedy matching is itself injective.

Normalisation - Eq. 5 is a *sum* over the people of an image, so it grows with the
    crowd. The paper's numbers (~0.1 for box-driven models, "about 10% in OKS") are per
    person, so the headline number (:func:`aggregate_tae` ``'tae'``) is the per-person
    mean ``TAE_img / N_img`` averaged over the images that contain at least one
    (non-ignored) person. The raw Eq. 5 sums are reported as well (``'tae_sum'``: mean
    over those images; ``'tae_total'``: summed over the data set; ``'tae_pooled'``:
    ``tae_total / num_gt``, every person weighted equally).

All coordinates (people, candidates and outputs) must be in the same frame; the areas
``s^2`` are in that frame's pixels squared (use the original image and the annotation
``area`` as COCOeval does).
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..structures.oks import pairwise_oks

#: an output matches a person only with an OKS above this (see the module docstring)
DEFAULT_MIN_OKS = 0.1

__all__ = ['DEFAULT_MIN_OKS', 'oks_matrix', 'optimal_assignment', 'greedy_matching',
           'ImageTAE', 'image_tae', 'aggregate_tae', 'tae_ap_correlation']


def _arr(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _kpts(x, K: int) -> np.ndarray:
    """(..., K, D>=2) or empty -> (P, K, 2) float64."""
    a = _arr(x)
    if a.size == 0:
        return np.zeros((0, K, 2), np.float64)
    return a.reshape(-1, K, a.shape[-1])[..., :2]


def oks_matrix(gt_keypoints, gt_visible, gt_areas, pred_keypoints, sigmas) -> np.ndarray:
    """COCO OKS between every person and every prediction (paper Eq. 2).

    Args:
        gt_keypoints: (N, K, 2). gt_visible: (N, K), ``> 0`` = labelled.
        gt_areas: (N,) areas ``s^2``. pred_keypoints: (M, K, 2). sigmas: (K,).

    Returns:
        (N, M) float64 array ``S``; a person without labelled keypoints has OKS 0.
    """
    sig = _arr(sigmas).reshape(-1)
    K = sig.shape[0]
    gt = _kpts(gt_keypoints, K)
    pred = _kpts(pred_keypoints, K)
    vis = _arr(gt_visible).reshape(gt.shape[0], K)
    areas = _arr(gt_areas).reshape(gt.shape[0])
    if gt.shape[0] == 0 or pred.shape[0] == 0:
        return np.zeros((gt.shape[0], pred.shape[0]), np.float64)
    S = pairwise_oks(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(vis),
                     torch.from_numpy(areas), torch.from_numpy(sig))
    return S.numpy().astype(np.float64)


def optimal_assignment(S) -> Tuple[np.ndarray, np.ndarray]:
    """OKS-optimal one-to-one assignment of Eq. 4 (Hungarian, maximising ``sum S``).

    Args:
        S: (N, M) OKS of every person with every candidate.

    Returns:
        ``(index, oks)``: (N,) candidate index of each person (-1 when ``N > M`` leaves it
        without one) and (N,) its OKS ``OKS(g_i, y*_i)`` (0 when unassigned).
    """
    S = _arr(S)
    N, M = S.shape
    index = np.full(N, -1, np.int64)
    oks = np.zeros(N, np.float64)
    if N == 0 or M == 0:
        return index, oks
    rows, cols = linear_sum_assignment(S, maximize=True)
    index[rows] = cols
    oks[rows] = S[rows, cols]
    return index, oks


def greedy_matching(S, scores, max_dets: Optional[int] = None,
                    min_oks: float = DEFAULT_MIN_OKS) -> Tuple[np.ndarray, np.ndarray]:
    """OKS each person gets from the model's outputs: COCOeval-style greedy matching.

    Outputs are visited by descending score (stable, like COCOeval); only the first
    ``max_dets`` take part (None or <= 0: all). Each output is matched to the
    still-unmatched person with the highest OKS if that OKS is ``> min_oks`` (0.1 by
    default; 0 reproduces COCOeval's matching with a zero OKS threshold).

    Args:
        S: (N, M) OKS of every person with every output.
        scores: (M,) output scores.

    Returns:
        ``(index, oks)``: (N,) output index matched to each person (-1: none) and (N,) the
        OKS ``OKS(g_i, y^_i)`` (0 when unmatched).
    """
    S = _arr(S)
    scores = _arr(scores).reshape(-1)
    N, M = S.shape
    if scores.shape[0] != M:
        raise ValueError(f'greedy_matching: {M} outputs in S but {scores.shape[0]} scores')
    index = np.full(N, -1, np.int64)
    oks = np.zeros(N, np.float64)
    if N == 0 or M == 0:
        return index, oks
    order = np.argsort(-scores, kind='mergesort')
    if max_dets is not None and max_dets > 0:
        order = order[:max_dets]
    free = np.ones(N, bool)
    for j in order:
        if not free.any():
            break
        col = np.where(free, S[:, j], -np.inf)
        g = int(np.argmax(col))
        if col[g] > min_oks:
            index[g] = j
            oks[g] = S[g, j]
            free[g] = False
    return index, oks


@dataclass
class ImageTAE:
    """TAE of one image (people that were ignored are not included)."""

    oks_optimal: np.ndarray                  # (N,) OKS(g_i, y*_i)
    oks_selected: np.ndarray                 # (N,) OKS(g_i, y^_i)
    optimal_index: np.ndarray                # (N,) candidate index of y*_i, -1 = none
    selected_index: np.ndarray               # (N,) output index of y^_i, -1 = none
    gt_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # (N,) row of each counted person in the image's original (unfiltered) person list

    @property
    def num_gt(self) -> int:
        return int(self.oks_optimal.shape[0])

    @property
    def per_gt(self) -> np.ndarray:
        """(N,) ``OKS(g_i, y*_i) - OKS(g_i, y^_i)``."""
        return self.oks_optimal - self.oks_selected

    @property
    def tae_sum(self) -> float:
        """Eq. 5 as written: the sum over the image's people."""
        return float(self.per_gt.sum())

    @property
    def tae_mean(self) -> float:
        """Eq. 5 divided by N (nan for an image without people)."""
        return float(self.per_gt.mean()) if self.num_gt else float('nan')


def image_tae(gt_keypoints, gt_visible, gt_areas, candidate_keypoints, output_keypoints,
              output_scores, sigmas, *, gt_ignore=None, max_dets: Optional[int] = None,
              min_oks: float = DEFAULT_MIN_OKS) -> ImageTAE:
    """Task Alignment Error of one image (Eq. 4-5, see the module docstring).

    Args:
        gt_keypoints: (G, K, 2) people; gt_visible: (G, K); gt_areas: (G,).
        candidate_keypoints: (M, K, 2) dense candidate poses (every grid cell).
        output_keypoints: (P, K, 2) poses the model outputs; output_scores: (P,).
        sigmas: (K,) OKS sigmas of the data set.
        gt_ignore: optional (G,) bool, people to leave out (e.g. ``iscrowd``); people
            without labelled keypoints are always left out.
        max_dets: only the ``max_dets`` best-scored outputs take part (COCO: 20).
        min_oks: an output matches a person only with OKS ``> min_oks`` (0.1).
    """
    sig = _arr(sigmas).reshape(-1)
    K = sig.shape[0]
    gt = _kpts(gt_keypoints, K)
    vis = _arr(gt_visible).reshape(-1, K)
    areas = _arr(gt_areas).reshape(-1)
    keep = (vis > 0).any(1)
    if gt_ignore is not None:
        keep &= ~_arr(gt_ignore, bool).reshape(-1)
    rows = np.flatnonzero(keep)
    gt, vis, areas = gt[rows], vis[rows], areas[rows]
    cand = _kpts(candidate_keypoints, K)
    outs = _kpts(output_keypoints, K)
    opt_idx, opt_oks = optimal_assignment(oks_matrix(gt, vis, areas, cand, sig))
    sel_idx, sel_oks = greedy_matching(oks_matrix(gt, vis, areas, outs, sig),
                                       _arr(output_scores).reshape(-1), max_dets=max_dets,
                                       min_oks=min_oks)
    return ImageTAE(oks_optimal=opt_oks, oks_selected=sel_oks, optimal_index=opt_idx,
                    selected_index=sel_idx, gt_index=rows.astype(np.int64))


def aggregate_tae(results: Iterable[ImageTAE]) -> Dict[str, float]:
    """Data-set summary of per-image TAEs (images without counted people are skipped).

    Returns a dict with
        ``tae``: mean over images of ``TAE_img / N_img`` (the headline number);
        ``tae_sum``: mean over images of the raw Eq. 5 sum;
        ``tae_total``: Eq. 5 summed over all images;
        ``tae_pooled``: ``tae_total / num_gt`` (every person weighted equally);
        ``oks_optimal`` / ``oks_selected``: mean OKS of ``y*`` / ``y^`` over all people;
        ``missed``: fraction of people no output was matched to;
        ``num_images`` / ``num_gt``: images with people / people counted.
    """
    res = [r for r in results if r.num_gt > 0]
    if not res:
        nan = float('nan')
        return dict(tae=nan, tae_sum=nan, tae_total=0.0, tae_pooled=nan, oks_optimal=nan,
                    oks_selected=nan, missed=nan, num_images=0, num_gt=0)
    opt = np.concatenate([r.oks_optimal for r in res])
    sel = np.concatenate([r.oks_selected for r in res])
    sel_idx = np.concatenate([r.selected_index for r in res])
    total = float((opt - sel).sum())
    return dict(tae=float(np.mean([r.tae_mean for r in res])),
                tae_sum=float(np.mean([r.tae_sum for r in res])),
                tae_total=total, tae_pooled=total / len(opt),
                oks_optimal=float(opt.mean()), oks_selected=float(sel.mean()),
                missed=float((sel_idx < 0).mean()), num_images=len(res), num_gt=int(len(opt)))


def tae_ap_correlation(tae: Sequence[float], ap: Sequence[float]) -> Tuple[float, float]:
    """Spearman rank correlation between TAE and AP over checkpoints (paper Fig. 12).

    Returns ``(rho, p_value)``; nan when fewer than 2 checkpoints or a constant input.
    """
    tae = np.asarray(tae, np.float64)
    ap = np.asarray(ap, np.float64)
    if tae.shape != ap.shape:
        raise ValueError(f'tae_ap_correlation: {tae.shape} TAE values but {ap.shape} AP values')
    ok = np.isfinite(tae) & np.isfinite(ap)
    tae, ap = tae[ok], ap[ok]
    if len(tae) < 2 or np.ptp(tae) == 0 or np.ptp(ap) == 0:
        return float('nan'), float('nan')
    from scipy.stats import spearmanr
    r = spearmanr(tae, ap)
    return float(r[0]), float(r[1])
