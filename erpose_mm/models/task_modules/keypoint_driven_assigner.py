"""Keypoint-driven dynamic assignment (ER-Pose Eq. 1-3, Algorithm 1)."""
from typing import Optional

import torch
from torch import Tensor
from mmengine.structures import InstanceData
from mmpose.registry import TASK_UTILS

from .oks import pairwise_bbox_iou, pairwise_oks

INF = 1e8


@TASK_UTILS.register_module()
class KeypointDrivenAssigner:
    """Per-person top-k assignment by ``score = conf^alpha * quality^beta``.

    ``quality`` is the OKS (paper Eq. 2) between the keypoints a grid cell predicts and the
    person's ground truth (``metric='oks'``, ER-Pose), or the IoU between a predicted and the
    ground-truth box (``metric='iou'``, the box-driven YOLOv8/TOOD baseline of Table III).

    Candidate rule: a cell is a candidate for a person when its centre lies inside the
    person's box, or within ``center_radius * stride`` of the box centre (so small people
    whose box contains no cell centre on a coarse level still get candidates; YOLOX's rule).
    Among its candidates each person takes the ``topk`` cells with the highest score
    (``topk=1`` for the one-to-one head). A cell claimed by several people goes to the one for
    which its score is highest.

    Persons with no labelled keypoint (crowd regions, fully truncated or unlabelled people)
    are not assigned: cells whose centre lies in their box are reported in ``ignore_mask``
    so the confidence loss neither rewards nor punishes them, unless they are positives of
    a labelled person.

    Args:
        topk: positives per person.
        alpha: exponent of the confidence.
        beta: exponent of the OKS / IoU.
        center_radius: radius, in strides, of the centre region candidate rule.
        metric: 'oks' (keypoint-driven) or 'iou' (box-driven).
        eps: numerical floor.
    """

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 center_radius: float = 2.5, metric: str = 'oks', eps: float = 1e-9) -> None:
        if metric not in ('oks', 'iou'):
            raise ValueError(f"KeypointDrivenAssigner: metric must be 'oks' or 'iou', got {metric!r}")
        if topk < 1:
            raise ValueError(f'KeypointDrivenAssigner: topk must be >= 1, got {topk}')
        self.topk = int(topk)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.center_radius = float(center_radius)
        self.metric = metric
        self.eps = eps

    @torch.no_grad()
    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData,
               sigmas: Tensor) -> dict:
        """Assign grid cells of one image to people.

        Args:
            pred_instances: ``priors`` (N, 2) cell centres in px, ``strides`` (N,),
                ``scores`` (N,) confidence in [0, 1], ``keypoints`` (N, K, 2) decoded in px,
                and ``bboxes`` (N, 4) xyxy when ``metric='iou'``.
            gt_instances: ``keypoints`` (G, K, 2), ``keypoints_visible`` (G, K),
                ``bboxes`` (G, 4) xyxy, ``areas`` (G,).
            sigmas: (K,) per-keypoint OKS sigmas of the dataset.

        Returns:
            dict with ``gt_inds`` (N,) long, -1 for background else the person index;
            ``align`` (N,) the assignment score of each positive (0 elsewhere);
            ``quality`` (N,) OKS / IoU of each positive with its person (0 elsewhere);
            ``ignore_mask`` (N,) bool, cells to leave out of the confidence loss.
        """
        priors = pred_instances.priors
        strides = pred_instances.strides
        num_cells = priors.shape[0]
        device = priors.device
        gt_inds = torch.full((num_cells,), -1, dtype=torch.long, device=device)
        align = priors.new_zeros(num_cells)
        quality = priors.new_zeros(num_cells)
        ignore_mask = torch.zeros(num_cells, dtype=torch.bool, device=device)
        result = dict(gt_inds=gt_inds, align=align, quality=quality, ignore_mask=ignore_mask)
        num_gts = len(gt_instances)
        if num_gts == 0 or num_cells == 0:
            return result

        gt_bboxes = gt_instances.bboxes.float()
        vis = gt_instances.keypoints_visible.float()
        if vis.dim() == 3:
            vis = vis[..., 0]
        labelled = (vis > 0).any(dim=1)

        # candidate cells: centre in the box or in the centre region (G, N)
        px, py = priors[:, 0][None], priors[:, 1][None]
        in_box = ((px > gt_bboxes[:, 0:1]) & (px < gt_bboxes[:, 2:3]) &
                  (py > gt_bboxes[:, 1:2]) & (py < gt_bboxes[:, 3:4]))
        cx = (gt_bboxes[:, 0:1] + gt_bboxes[:, 2:3]) / 2
        cy = (gt_bboxes[:, 1:2] + gt_bboxes[:, 3:4]) / 2
        r = self.center_radius * strides[None]
        in_center = ((px - cx).abs() < r) & ((py - cy).abs() < r)
        candidates = in_box | in_center

        ignore_mask |= in_box[~labelled].any(dim=0)
        valid = labelled.nonzero(as_tuple=True)[0]
        if valid.numel() == 0:
            return result
        candidates = candidates[valid]

        if self.metric == 'oks':
            q = pairwise_oks(pred_instances.keypoints.float(), gt_instances.keypoints[valid].float(),
                             vis[valid], gt_instances.areas[valid].float(), sigmas)
        else:
            q = pairwise_bbox_iou(gt_bboxes[valid], pred_instances.bboxes.float())
        conf = pred_instances.scores.float().clamp(min=0)[None]
        score = conf.pow(self.alpha) * q.clamp(min=0).pow(self.beta)  # (G', N)
        score = torch.where(candidates, score, score.new_full((), -1.0))

        k = min(self.topk, num_cells)
        top_score, top_idx = score.topk(k, dim=1)
        chosen = torch.zeros_like(candidates)
        chosen.scatter_(1, top_idx, top_score >= 0)  # only real candidates
        # conflicts: a cell claimed by several people goes to the highest score
        claim = torch.where(chosen, score, score.new_full((), -2.0))
        best_score, best_g = claim.max(dim=0)
        pos = best_score > -2.0
        gt_inds[pos] = valid[best_g[pos]]
        align[pos] = best_score[pos].clamp(min=0)
        quality[pos] = q[best_g[pos], pos.nonzero(as_tuple=True)[0]]
        ignore_mask &= ~pos
        return result
