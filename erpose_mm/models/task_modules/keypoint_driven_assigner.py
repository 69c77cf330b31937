"""Keypoint-driven dynamic assignment (ER-Pose Eq. 1-3, Algorithm 1), batched over images."""
from typing import Dict, Optional

import torch
from torch import Tensor
from mmengine.structures import InstanceData
from mmpose.registry import TASK_UTILS

from ...structures.oks import batched_bbox_iou, batched_oks

# key offset of a widened (non-candidate) cell in the one-to-one matching: every candidate
# pair (score in [0, 1]) outranks every widened pair (score - 2 in [-2, -1])
_WIDEN_OFFSET = 2.0
_NEG = -1e9  # padded people / excluded pairs


@TASK_UTILS.register_module()
class KeypointDrivenAssigner:
    """Assignment by ``score = conf^alpha * quality^beta`` for a whole batch at once.

    ``quality`` is the OKS (paper Eq. 2) between the keypoints a grid cell predicts and the
    person's ground truth (``metric='oks'``, ER-Pose), or the IoU between a predicted and the
    ground-truth box (``metric='iou'``, the box-driven YOLOv8/TOOD baseline of Table III).

    Candidates (``candidate_rule``):

    * ``'center'`` (default): a cell is a candidate for a person when its centre lies inside
      the person's box, or within ``center_radius * stride`` of the box centre (so small
      people whose box contains no cell centre on a coarse level still get candidates;
      YOLOX's rule). A deviation from Algorithm 1, which scores every cell: it keeps far
      cells whose random early predictions happen to overlap a person out of the top-k.
    * ``'all'``: every cell is a candidate (Algorithm 1 as written).

    Two selection rules:

    * **top-k** (``topk > 1``, the one-to-many head, MAH): each person takes its ``topk``
      candidates with the highest score; a cell so claimed by several people goes to the
      person for which its score is highest (the other person keeps its remaining cells,
      and may end with fewer than ``topk``, or none, in a dense crowd).
    * **one-to-one matching** (``topk == 1``, the one-to-one head, SAH; or
      ``injective=True``): an injective matching of people to cells, so that every labelled
      person gets exactly one positive and no cell serves two people ("SAH assigns a single
      positive sample per instance"). It is the greedy matching by score: repeatedly the
      highest-scoring (person, cell) pair whose person and cell are both still free is
      matched, i.e. a person whose best cell went to a higher-scoring person takes its best
      free cell. With one score ranking both sides this is the unique stable matching (no
      person and cell would both rather be matched to each other), and it is computed in
      rounds of "mutual best" pairs that run on whole padded batches (no per-image loop, no
      host sync other than the loop's stop test), unlike Hungarian matching (which would
      maximise the summed score, but runs per image on the host). When a person has no free
      candidate cell at all it is matched to its best free non-candidate cell ("widened")
      instead of being dropped; ``num_widened`` counts such people.

    Persons with no labelled keypoint (crowd regions, fully truncated or unlabelled people)
    are not assigned: cells whose centre lies in their box are reported in ``ignore_mask`` so
    the confidence loss neither rewards nor punishes them, unless they are positives of a
    labelled person.

    Args:
        topk: positives per person (``1``: one-to-one matching, see above).
        alpha: exponent of the confidence.
        beta: exponent of the OKS / IoU.
        center_radius: radius, in strides, of the centre-region candidate rule.
        metric: 'oks' (keypoint-driven) or 'iou' (box-driven).
        candidate_rule: 'center' or 'all'.
        injective: one-to-one matching; ``None`` means ``topk == 1``.
        eps: numerical floor.
    """

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 center_radius: float = 2.5, metric: str = 'oks',
                 candidate_rule: str = 'center', injective: Optional[bool] = None,
                 eps: float = 1e-9) -> None:
        if metric not in ('oks', 'iou'):
            raise ValueError(f"KeypointDrivenAssigner: metric must be 'oks' or 'iou', got {metric!r}")
        if candidate_rule not in ('center', 'all'):
            raise ValueError("KeypointDrivenAssigner: candidate_rule must be 'center' or 'all', "
                             f'got {candidate_rule!r}')
        if topk < 1:
            raise ValueError(f'KeypointDrivenAssigner: topk must be >= 1, got {topk}')
        self.topk = int(topk)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.center_radius = float(center_radius)
        self.metric = metric
        self.candidate_rule = candidate_rule
        self.injective = self.topk == 1 if injective is None else bool(injective)
        if self.injective and self.topk != 1:
            raise ValueError('KeypointDrivenAssigner: injective matching needs topk=1, '
                             f'got topk={topk}')
        self.eps = eps

    # ------------------------------------------------------------------ batched API
    @torch.no_grad()
    def assign_batch(self, priors: Tensor, strides: Tensor, scores: Tensor, keypoints: Tensor,
                     gt: Dict[str, Tensor], sigmas: Tensor,
                     bboxes: Optional[Tensor] = None,
                     candidate_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Assign the grid cells of B images to their people.

        Args:
            priors: (N, 2) cell centres in px; strides: (N,).
            scores: (B, N) confidence in [0, 1]; keypoints: (B, N, K, 2) decoded, px.
            gt: padded people: ``keypoints`` (B, G, K, 2), ``keypoints_visible`` (B, G, K),
                ``bboxes`` (B, G, 4) xyxy, ``areas`` (B, G), ``mask`` (B, G) bool (real
                person, not padding).
            sigmas: (K,) OKS sigmas.
            bboxes: (B, N, 4) predicted boxes, needed for ``metric='iou'``.
            candidate_mask: (B, G, N) bool, cells a person may take besides the
                candidate rule (ANDed with it); None: the rule alone.

        Returns:
            dict with ``gt_inds`` (B, N) long, -1 for background else the person's index in
            its image; ``align`` (B, N) the assignment score of each positive (0 elsewhere);
            ``quality`` (B, N) OKS / IoU of each positive with its person (0 elsewhere);
            ``ignore_mask`` (B, N) bool, cells to leave out of the confidence loss;
            ``num_widened`` () long, people matched outside their candidates.
        """
        B, N = scores.shape
        G = gt['mask'].shape[1]
        device = scores.device
        num_widened = torch.zeros((), dtype=torch.long, device=device)
        if G == 0 or N == 0:
            return dict(gt_inds=torch.full((B, N), -1, dtype=torch.long, device=device),
                        align=scores.new_zeros(B, N), quality=scores.new_zeros(B, N),
                        ignore_mask=torch.zeros(B, N, dtype=torch.bool, device=device),
                        num_widened=num_widened)

        gt_bboxes = gt['bboxes'].float()
        vis = gt['keypoints_visible'].float()
        has_kpt = (vis > 0).any(-1)
        labelled = has_kpt & gt['mask']                                 # (B, G)
        unlabelled = ~has_kpt & gt['mask']

        px, py = priors[:, 0].view(1, 1, N), priors[:, 1].view(1, 1, N)
        in_box = ((px > gt_bboxes[..., 0:1]) & (px < gt_bboxes[..., 2:3]) &
                  (py > gt_bboxes[..., 1:2]) & (py < gt_bboxes[..., 3:4]))  # (B, G, N)
        ignore_mask = (in_box & unlabelled[..., None]).any(1)
        if self.candidate_rule == 'all':
            candidates = labelled[..., None].expand(B, G, N)
        else:
            centre = (gt_bboxes[..., 0:2] + gt_bboxes[..., 2:4]) / 2     # (B, G, 2)
            cx, cy = centre[..., 0:1], centre[..., 1:2]
            r = self.center_radius * strides.view(1, 1, N)
            in_center = ((px - cx).abs() < r) & ((py - cy).abs() < r)
            candidates = (in_box | in_center) & labelled[..., None]
        if candidate_mask is not None:
            candidates = candidates & candidate_mask

        if self.metric == 'oks':
            q = batched_oks(keypoints.float(), gt['keypoints'].float(), vis,
                            gt['areas'].float(), sigmas)
        else:
            if bboxes is None:
                raise ValueError("KeypointDrivenAssigner: metric='iou' needs predicted bboxes")
            q = batched_bbox_iou(gt_bboxes, bboxes.float())
        conf = scores.float().clamp(min=0).unsqueeze(1)                  # (B, 1, N)
        score = conf.pow(self.alpha) * q.clamp(min=0).pow(self.beta)     # (B, G, N)

        if self.injective:
            person_cell, widened = self._match_one_to_one(score, candidates, labelled)
            num_widened = widened.sum()
            # each matched person's values scattered to its cell (cells are distinct within
            # an image); unmatched people write to a spare column N that is dropped: no
            # nonzero, so no host sync
            dest = person_cell.remainder(N + 1)                          # -1 -> N
            cell = person_cell.clamp(min=0).unsqueeze(-1)                # (B, G, 1)
            g_all = torch.arange(G, device=device).expand(B, G)
            gt_inds = torch.full((B, N + 1), -1, dtype=torch.long, device=device).scatter_(
                1, dest, g_all)[:, :N]
            align = scores.new_zeros(B, N + 1).scatter_(
                1, dest, score.gather(2, cell).squeeze(-1).to(scores.dtype))[:, :N]
            quality = scores.new_zeros(B, N + 1).scatter_(
                1, dest, q.gather(2, cell).squeeze(-1).to(scores.dtype))[:, :N]
        else:
            masked = torch.where(candidates, score, -1.0)
            k = min(self.topk, N)
            top_score, top_idx = masked.topk(k, dim=2)
            chosen = torch.zeros_like(candidates)
            chosen.scatter_(2, top_idx, top_score >= 0)  # only real candidates
            # a cell claimed by several people goes to the highest score
            claim = torch.where(chosen, score, -2.0)
            best_score, best_g = claim.max(dim=1)                         # (B, N)
            pos = best_score > -2.0
            gt_inds = torch.where(pos, best_g, -1)
            align = torch.where(pos, best_score.clamp(min=0), 0.0)
            quality = torch.where(pos, q.gather(1, best_g.unsqueeze(1)).squeeze(1), 0.0)
        ignore_mask &= gt_inds < 0
        return dict(gt_inds=gt_inds, align=align, quality=quality, ignore_mask=ignore_mask,
                    num_widened=num_widened)

    @staticmethod
    def _match_one_to_one(score: Tensor, candidates: Tensor, labelled: Tensor):
        """Greedy injective matching by score, in rounds of mutual-best pairs.

        A pair (p, c) is matched in a round when c is p's best free cell and p is c's best
        free person. The pair with the highest key among free ones is always mutual best
        (ties broken towards the lower person, then cell, index), so every round matches at
        least one pair, and every mutual-best pair is one the sequential greedy would match
        too: the result equals sorting all pairs by key and matching each pair whose person
        and cell are still free.

        Args:
            score: (B, G, N) in [0, 1]; candidates: (B, G, N) bool; labelled: (B, G) bool.

        Returns:
            person_cell (B, G) long (-1: unmatched, only when no free cell is left) and
            widened (B, G) bool (matched outside its candidates).
        """
        B, G, N = score.shape
        key = torch.where(candidates, score, score - _WIDEN_OFFSET)
        key = torch.where(labelled.unsqueeze(-1), key, _NEG)
        person_cell = torch.full((B, G), -1, dtype=torch.long, device=score.device)
        person_free = labelled.clone()
        cell_free = torch.ones(B, N, dtype=torch.bool, device=score.device)
        g_index = torch.arange(G, device=score.device).view(1, G)
        # A free labelled person has a live pair as long as its image has a free cell (every
        # key of a labelled person is > _NEG / 2), and then the round matches at least one
        # pair: at most G rounds, and the loop stops after the round that leaves no free
        # person beside a free cell (one host sync per round). A round without a mutual
        # pair (no labelled person at all) changes nothing.
        for _ in range(G):
            live = person_free.unsqueeze(-1) & cell_free.unsqueeze(1)
            k = torch.where(live, key, _NEG)
            row_best, row_cell = k.max(dim=2)                            # (B, G)
            col_person = k.argmax(dim=1)                                 # (B, N)
            mutual = person_free & (row_best > _NEG / 2) & \
                (col_person.gather(1, row_cell) == g_index)
            person_cell = torch.where(mutual, row_cell, person_cell)
            person_free &= ~mutual
            # scatter_add, not scatter_: several people may name the same (taken) cell
            taken = torch.zeros(B, N, dtype=torch.long, device=score.device).scatter_add_(
                1, row_cell, mutual.long())
            cell_free &= taken == 0
            if not bool((person_free.any(1) & cell_free.any(1)).any()):
                break
        matched = person_cell >= 0
        widened = matched & ~candidates.gather(2, person_cell.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return person_cell, widened

    # ------------------------------------------------------------------ one image
    @torch.no_grad()
    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData,
               sigmas: Tensor) -> dict:
        """Assign grid cells of one image to people (a batch of one, see :meth:`assign_batch`).

        Args:
            pred_instances: ``priors`` (N, 2) cell centres in px, ``strides`` (N,),
                ``scores`` (N,) confidence in [0, 1], ``keypoints`` (N, K, 2) decoded in px,
                and ``bboxes`` (N, 4) xyxy when ``metric='iou'``.
            gt_instances: ``keypoints`` (G, K, 2), ``keypoints_visible`` (G, K),
                ``bboxes`` (G, 4) xyxy, ``areas`` (G,).
            sigmas: (K,) per-keypoint OKS sigmas of the dataset.

        Returns:
            dict with ``gt_inds`` (N,), ``align`` (N,), ``quality`` (N,), ``ignore_mask``
            (N,) as in :meth:`assign_batch`, and ``num_widened`` ().
        """
        vis = gt_instances.keypoints_visible
        if vis.dim() == 3:
            vis = vis[..., 0]
        G = len(gt_instances)
        gt = dict(keypoints=gt_instances.keypoints[None], keypoints_visible=vis[None],
                  bboxes=gt_instances.bboxes[None], areas=gt_instances.areas[None],
                  mask=torch.ones(1, G, dtype=torch.bool, device=pred_instances.priors.device))
        bboxes = pred_instances.bboxes[None] if 'bboxes' in pred_instances else None
        res = self.assign_batch(pred_instances.priors, pred_instances.strides,
                                pred_instances.scores[None], pred_instances.keypoints[None],
                                gt, sigmas, bboxes=bboxes)
        return {k: (v[0] if v.dim() else v) for k, v in res.items()}
