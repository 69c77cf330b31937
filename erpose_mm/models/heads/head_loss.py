"""ER-Pose head, training: the dual assignment of the one-to-many head (MAH) and the
one-to-one head (SAH) and their losses. :class:`ERPoseHead` is built from this and
:class:`~.head_decode.ERPoseDecodeMixin`."""
from typing import Dict, List, Optional

import torch
from torch import Tensor

from mmpose.utils.typing import ConfigType, OptSampleList

from ...structures.oks import batched_oks
from ...utils.dist import get_world_size, rank_mean_normalizers
from .erpose_branches import BranchOutputs
from .loss_terms import one2many_entries
from .targets import pad_targets

#: how the SAH's positive is chosen: see ERPoseHead's ``one2one_assign``
ONE2ONE_ASSIGN = ('own', 'one2many', 'one2many_topk')


class ERPoseLossMixin:
    """Training methods of :class:`ERPoseHead`. The loss dict's entries are described in
    :mod:`~.loss_terms`.

    Reads the head's branches, assigners, losses, ``sigmas``, ``with_bbox``,
    ``detach_one2one``, ``conf_target`` / ``one2one_conf_target``, ``one2one_assign``,
    ``one2many_weight``, ``num_keypoints``, ``oks_scale``, ``decode`` and ``_select``.
    """

    def loss(self, feats, batch_data_samples: OptSampleList, train_cfg: ConfigType = {}) -> dict:
        # Under mixed precision (CPUBF16OptimWrapper, AmpOptimWrapper) the head, the
        # assignment and the losses stay fp32: keypoints decode as cell + offset * stride,
        # and in bf16 a coordinate near 256 px is only resolved to 1-2 px.
        feats = [f.float() for f in self._select(feats)]
        with torch.autocast(feats[0].device.type, enabled=False):
            return self._loss(feats, batch_data_samples)

    def _loss(self, feats: List[Tensor], batch_data_samples: OptSampleList) -> dict:
        """Both heads' losses (entries: :mod:`~.loss_terms`). Which loss reaches which
        parameters:

        * MAH losses (``*_o2m``): the MAH branches and, through the live features, the neck
          and backbone.
        * SAH losses, beside a MAH with ``detach_one2one`` (the default): the SAH branches
          only. With ``share_regression=False`` (default, the paper's YOLOv10 layout) the SAH
          is a full copy of the MAH run on detached features. With ``share_regression=True``
          the keypoint/visibility branch is one module serving both heads: it runs once on
          the live features for the MAH and once on the detached features for the SAH, so
          the SAH's pose and visibility losses train that shared branch but never the neck
          or backbone.
        * SAH-only training (no MAH) or ``detach_one2one=False``: the SAH losses reach the
          backbone too.
        """
        detach = self.detach_one2one and self.one2many is not None
        one2one_feats = [f.detach() for f in feats] if detach else feats
        one2one_outs = self.decode(self.one2one(one2one_feats))
        gt = self.batch_targets(batch_data_samples, feats[0].device)
        one2many_outs = one2many_res = None
        if self.one2many is not None:
            one2many_outs = self.decode(self.one2many(feats))
            one2many_res = self.assign(one2many_outs, gt, self.assigner_one2many)
        one2one_res = self.assign_one2one(one2one_outs, gt, one2many_outs, one2many_res)
        one2one_target = self.one2one_conf_target
        if one2one_target == 'one2many':
            one2one_res = self.one2many_quality(one2one_res, one2many_outs)
            one2one_target = 'soft'
        losses = self.branch_loss(one2one_outs, gt, one2one_res, one2one_target,
                                  pos_weight=self.one2one_pos_weight)
        if one2many_res is not None:
            # share of the SAH's positives that are also MAH positives of the same person
            one2one_pos = one2one_res['gt_inds'] >= 0
            same = one2one_pos & (one2many_res['gt_inds'] == one2one_res['gt_inds'])
            losses['o2o_in_o2m'] = same.sum().to(one2one_outs['conf_logits']) / \
                one2one_pos.sum().clamp(min=1).to(one2one_outs['conf_logits'])
            losses.update(one2many_entries(
                self.branch_loss(one2many_outs, gt, one2many_res, self.conf_target),
                self.one2many_weight))
        return losses

    @staticmethod
    @torch.no_grad()
    def one2many_quality(one2one_res: Dict[str, Tensor],
                         one2many_outs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The SAH's assignment with ``quality`` and ``align`` at its positives replaced by
        the MAH's predicted confidence at the same cells, so the soft target (one positive
        per person: align / max align * max quality) is that confidence.

        Args:
            one2one_res: the SAH's assignment (``gt_inds``, ``quality``, ``align`` (B, N)).
            one2many_outs: the MAH's :meth:`decode` outputs (``conf_logits`` (B, N)).
        """
        pos = one2one_res['gt_inds'] >= 0
        quality = torch.where(pos, one2many_outs['conf_logits'].detach().float().sigmoid(),
                              torch.zeros_like(one2one_res['quality']))
        return dict(one2one_res, quality=quality, align=quality.clone())

    def batch_targets(self, batch_data_samples: OptSampleList, device) -> Dict[str, Tensor]:
        """The people of a batch, padded to the largest count G: see :func:`pad_targets`."""
        return pad_targets(batch_data_samples, self.num_keypoints, self.oks_scale, device)

    def assign(self, outs: Dict[str, Tensor], gt: Dict[str, Tensor],
               assigner, candidate_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Run ``assigner`` on decoded outputs (:meth:`decode`) and padded targets
        (:meth:`batch_targets`); see :meth:`KeypointDrivenAssigner.assign_batch`.
        ``candidate_mask`` (B, G, N) bool further restricts each person's candidates."""
        return assigner.assign_batch(
            outs['priors'], outs['strides'], outs['conf_logits'].detach().sigmoid(),
            outs['keypoints'].detach(), gt, self.sigmas,
            bboxes=outs['bboxes'].detach() if self.with_bbox else None,
            candidate_mask=candidate_mask)

    @torch.no_grad()
    def assign_one2one(self, one2one_outs: Dict[str, Tensor], gt: Dict[str, Tensor],
                       one2many_outs: Optional[Dict[str, Tensor]] = None,
                       one2many_res: Optional[Dict[str, Tensor]] = None) -> Dict[str, Tensor]:
        """The SAH's one positive per person, chosen as ``one2one_assign`` says.

        Args:
            one2one_outs / one2many_outs: :meth:`decode` outputs of the SAH / MAH.
            gt: :meth:`batch_targets`.
            one2many_res: the MAH's assignment (``gt_inds`` (B, N)).

        Returns:
            :meth:`KeypointDrivenAssigner.assign_batch`'s dict for the SAH. In the two
            ``'one2many'`` modes ``quality`` and ``align`` at each positive are the OKS of
            the SAH's own keypoints there, so the soft confidence target is that OKS in
            every mode.
        """
        if self.one2one_assign == 'own':
            return self.assign(one2one_outs, gt, self.assigner_one2one)
        if self.one2one_assign == 'one2many':
            res = self.assign(one2many_outs, gt, self.assigner_one2one)
        else:  # 'one2many_topk': the SAH's score over the person's MAH positives
            G = gt['mask'].shape[1]
            g_index = torch.arange(G, device=one2many_res['gt_inds'].device).view(1, G, 1)
            mah_pos = one2many_res['gt_inds'].unsqueeze(1) == g_index        # (B, G, N)
            mask = mah_pos | ~mah_pos.any(-1, keepdim=True)
            res = self.assign(one2one_outs, gt, self.assigner_one2one, candidate_mask=mask)
        pos_b, pos_n = (res['gt_inds'] >= 0).nonzero(as_tuple=True)
        g = res['gt_inds'][pos_b, pos_n]
        # per positive: (P, 1, K, 2) vs (P, 1, K, 2) -> (P, 1, 1), the assigner's own OKS
        own = batched_oks(one2one_outs['keypoints'][pos_b, pos_n].detach().float()[:, None],
                          gt['keypoints'][pos_b, g].float()[:, None],
                          gt['keypoints_visible'][pos_b, g].float()[:, None],
                          gt['areas'][pos_b, g].float()[:, None], self.sigmas).reshape(-1)
        quality = torch.zeros_like(res['quality'])
        quality[pos_b, pos_n] = own
        return dict(res, quality=quality, align=quality.clone())

    def _branch_loss(self, raw: BranchOutputs, gt: Dict[str, Tensor], assigner) -> dict:
        """One head's losses from its raw outputs, assigned by ``assigner`` on its own
        predictions, with the head's ``conf_target`` (what the MAH does)."""
        outs = self.decode(raw)
        return self.branch_loss(outs, gt, self.assign(outs, gt, assigner), self.conf_target)

    def branch_loss(self, outs: Dict[str, Tensor], gt: Dict[str, Tensor],
                    res: Dict[str, Tensor], conf_target: str, pos_weight: float = 1.0) -> dict:
        """One head's losses from its :meth:`decode` outputs and its assignment ``res``
        (:meth:`KeypointDrivenAssigner.assign_batch`'s dict); ``conf_target`` 'soft' or
        'hard'; ``pos_weight`` multiplies the positives' confidence BCE terms."""
        conf_logits, keypoints, vis_logits = outs['conf_logits'], outs['keypoints'], outs['vis_logits']
        B, N = conf_logits.shape
        gt_inds = res['gt_inds']                                        # (B, N)
        pos = gt_inds >= 0
        pos_b, pos_n = pos.nonzero(as_tuple=True)
        G = gt['mask'].shape[1]
        flat = pos_b * G + gt_inds[pos_b, pos_n]                        # person id in the batch
        conf_weight = (~res['ignore_mask']).to(conf_logits)
        if pos_weight != 1.0:
            conf_weight = conf_weight.index_put((pos_b, pos_n), conf_weight.new_tensor(pos_weight))
        conf_target_map = conf_logits.new_zeros(B, N)
        if conf_target == 'hard':
            conf_target_map[pos_b, pos_n] = 1.0
        else:
            # TAL-style: align / max align of that person * max quality of that person
            # align and quality of the positives, and both per-person maxima, in one op each
            # (amax is exact in any order)
            aq = torch.stack([res['align'], res['quality']], -1)[pos_b, pos_n]   # (P, 2)
            align = aq[:, 0]
            max_aq = aq.new_zeros(B * G, 2).scatter_reduce(
                0, flat.unsqueeze(1).expand(-1, 2), aq, 'amax')[flat]
            conf_target_map[pos_b, pos_n] = align / max_aq[:, 0].clamp(min=1e-9) * max_aq[:, 1]
        pos_gt = gt['keypoints'].flatten(0, 1)[flat]
        pos_gt_vis = gt['keypoints_visible'].flatten(0, 1)[flat]
        pos_area = gt['areas'].flatten(0, 1)[flat]
        num_pos = pos_b.shape[0]
        vis_t = (pos_gt_vis > 0).float()
        if get_world_size() > 1:
            # each normaliser is its mean over the ranks: DDP's average of the ranks'
            # gradients is then the gradient of one process holding all ranks' images
            pose_norm, vis_norm, norm, pos_norm = rank_mean_normalizers(torch.stack([
                (pos_gt_vis > 0).any(-1).sum().to(conf_logits),
                conf_logits.new_tensor(float(vis_t.numel())),
                conf_target_map.sum().to(conf_logits),
                conf_logits.new_tensor(float(num_pos))]))
        else:
            pose_norm, vis_norm, pos_norm = None, max(vis_t.numel(), 1), max(num_pos, 1)
            norm = conf_target_map.sum().clamp(min=1.0)
        losses = dict()
        # SmoothOKSLoss averages over positives; with none it returns an exact 0 with a graph
        losses['loss_pose'] = self.loss_pose(keypoints[pos_b, pos_n], pos_gt, pos_gt_vis, pos_area,
                                             normalizer=pose_norm)
        losses['loss_vis'] = self.loss_vis(vis_logits[pos_b, pos_n], vis_t,
                                           torch.ones_like(vis_t)) / vis_norm
        losses['loss_conf'] = self.loss_conf(conf_logits, conf_target_map, conf_weight) / norm
        if self.with_bbox:
            losses['loss_bbox'] = self.loss_bbox(
                outs['bboxes'][pos_b, pos_n], gt['bboxes'].flatten(0, 1)[flat]) / pos_norm
        # on the device (a Python number would be a blocking host-to-device copy): the float32
        # quotient of two integers below 2^24, equal to float(num_pos) / B rounded to float32
        # (double rounding is harmless for division when 53 >= 2 * 24 + 2)
        losses['num_pos'] = (pos.sum() / max(B, 1)).to(conf_logits)
        # people the one-to-one matching had to place outside their candidate cells
        losses['num_widened'] = res['num_widened'].to(conf_logits)
        return losses

