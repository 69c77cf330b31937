"""ER-Pose head, inference: decode of the raw branch outputs, NMS-free top-k, prediction
and the deployment output. :class:`ERPoseHead` is built from this and
:class:`~.head_loss.ERPoseLossMixin`."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmpose.utils.typing import ConfigType, OptSampleList

from ...runtime.geometry import image_region_in_input
from ...structures import (DEFAULT_MAX_PER_IMG, DEFAULT_SCORE_THR, decode_settings,
                           dedupe_setting, dedupe_topk, keypoints_to_bboxes)
from .erpose_branches import BranchOutputs, split_keypoint_channels
from .one2many_nms import decode_one2many_nms

#: the branches of a head, by their state-dict prefix
BRANCHES = ('one2one', 'one2many')


def image_region(meta: dict) -> Optional[Tuple[float, float, float, float]]:
    """Box-clipping region in input pixels of a sample's ``metainfo``: the part of the
    network input covered by the image
    (:func:`erpose_mm.runtime.geometry.image_region_in_input`), so that boxes mapped back
    to the original image stay inside it; without the resize metainfo, the whole input;
    None without ``input_size``."""
    if 'input_size' not in meta:
        return None
    return image_region_in_input(meta['input_size'], meta.get('input_center'),
                                 meta.get('input_scale'), meta.get('ori_shape'))


class ERPoseDecodeMixin:
    """Inference methods of :class:`ERPoseHead`: the one-to-one head (SAH) decoded and
    ranked by a top-k over its confidences, no NMS.

    Reads the head's ``one2one`` / ``one2many`` branches, ``featmap_strides``,
    ``num_keypoints``, ``offset_scale``, ``sigmas`` and ``_select``.
    """

    def forward(self, feats: Sequence[Tensor]) -> BranchOutputs:
        """Raw outputs of the one-to-one head (the only branch at inference)."""
        return self.one2one(self._select(feats))

    def get_priors(self, sizes: Sequence[Tuple[int, int]], device, dtype) -> Tuple[Tensor, Tensor]:
        """Cell centres (N, 2) in input pixels and per-cell strides (N,) for all levels."""
        key = (tuple(map(tuple, sizes)), str(device), dtype)
        if key not in self._prior_cache or torch.onnx.is_in_onnx_export():
            priors, strides = [], []
            for (h, w), s in zip(sizes, self.featmap_strides):
                ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * s
                xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * s
                yy, xx = torch.meshgrid(ys, xs, indexing='ij')
                priors.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], -1))
                strides.append(torch.full((h * w,), float(s), device=device, dtype=dtype))
            out = (torch.cat(priors), torch.cat(strides))
            if torch.onnx.is_in_onnx_export():
                return out
            self._prior_cache[key] = out
        return self._prior_cache[key]

    def decode(self, raw: BranchOutputs) -> Dict[str, Tensor]:
        """Flatten and decode the raw level outputs of one branch (a :class:`BranchOutputs`
        or a plain ``(conf, kpt, bbox)`` tuple).

        Returns a dict with ``conf_logits`` (B, N), ``keypoints`` (B, N, K, 2) in input px,
        ``vis_logits`` (B, N, K), ``priors`` (N, 2), ``strides`` (N,) and, with a box branch,
        ``bboxes`` (B, N, 4) xyxy in input px.
        """
        confs, kpts, bboxes = raw
        K = self.num_keypoints
        B = confs[0].shape[0]
        sizes = [c.shape[2:] for c in confs]
        priors, strides = self.get_priors(sizes, confs[0].device, confs[0].dtype)
        conf = torch.cat([c.flatten(2) for c in confs], 2).reshape(B, -1)
        packed = torch.cat([k.flatten(2) for k in kpts], 2).permute(0, 2, 1)  # (B, N, 3K)
        offsets, vis_logits = split_keypoint_channels(packed, K)
        offsets = offsets.reshape(B, -1, K, 2)
        keypoints = priors[None, :, None] + offsets * (self.offset_scale * strides[None, :, None, None])
        out = dict(conf_logits=conf, keypoints=keypoints, vis_logits=vis_logits,
                   priors=priors, strides=strides)
        if bboxes is not None:
            d = torch.cat([b.flatten(2) for b in bboxes], 2).permute(0, 2, 1)
            d = F.softplus(d) * strides[None, :, None]
            out['bboxes'] = torch.cat([priors[None] - d[..., :2], priors[None] + d[..., 2:]], -1)
        return out

    def dense_outputs(self, feats: Sequence[Tensor], branch: str = 'one2one') -> Dict[str, Tensor]:
        """Decoded per-cell outputs of one branch (before any top-k): what analysis tools,
        the export and benchmarks read instead of reaching into the branch modules.

        Args:
            feats: the neck's outputs (all levels; the head picks its own).
            branch: ``'one2one'`` (SAH, the inference head) or ``'one2many'`` (MAH).

        Returns:
            :meth:`decode`'s dict: ``conf_logits`` (B, N), ``keypoints`` (B, N, K, 2) in input
            px, ``vis_logits`` (B, N, K), ``priors`` (N, 2), ``strides`` (N,) [, ``bboxes``].
        """
        if branch not in BRANCHES:
            raise ValueError(f"ERPoseHead: branch must be 'one2one' or 'one2many', got {branch!r}")
        module = self.one2one if branch == 'one2one' else self.one2many
        if module is None:
            raise ValueError(f"ERPoseHead: branch='{branch}' but the one-to-many head was "
                             'removed (switch_to_deploy) or never built')
        return self.decode(module(self._select(feats)))

    # ------------------------------------------------------------------ inference
    def predict(self, feats, batch_data_samples: OptSampleList, test_cfg: ConfigType = {}):
        """NMS-free prediction: top-k over SAH confidences (input-image coordinates).

        test_cfg: ``score_thr`` (0.01), ``max_per_img`` (100), ``dedupe_thr`` (None: off;
        an OKS threshold turns on the parallel dedupe of
        :func:`erpose_mm.structures.dedupe_topk` over the top-k). ``branch='one2many'``
        (with ``nms_pre``, ``nms_thr``) decodes the MAH with OKS-NMS instead, an ablation:
        :func:`~.one2many_nms.decode_one2many_nms`.
        """
        if isinstance(feats, list) and feats and isinstance(feats[0], (list, tuple)):
            raise NotImplementedError('ERPoseHead: flip / multi-scale test is not supported')
        if test_cfg.get('branch', 'one2one') != 'one2one':
            dets = decode_one2many_nms(self, feats, test_cfg)
        else:
            outs = self.dense_outputs(feats, 'one2one')
            score_thr, max_per_img = decode_settings(test_cfg)
            dets = self.select_topk(outs, score_thr=score_thr, max_per_img=max_per_img,
                                    dedupe_thr=dedupe_setting(test_cfg))
        results = []
        for i, det in enumerate(dets):
            meta = batch_data_samples[i].metainfo if batch_data_samples else {}
            region = image_region(meta)
            if region is not None:
                x0, y0, x1, y1 = region
                det['bboxes'][:, 0::2].clamp_(x0, x1)
                det['bboxes'][:, 1::2].clamp_(y0, y1)
            inst = InstanceData(
                keypoints=det['keypoints'], keypoint_scores=det['keypoint_scores'],
                keypoints_visible=det['keypoint_scores'], bboxes=det['bboxes'],
                bbox_scores=det['scores'], scores=det['scores'],
                labels=torch.zeros_like(det['scores'], dtype=torch.long))
            results.append(inst.numpy())
        return results

    def select_topk(self, outs: Dict[str, Tensor], score_thr: float = DEFAULT_SCORE_THR,
                    max_per_img: int = DEFAULT_MAX_PER_IMG,
                    dedupe_thr: Optional[float] = None) -> List[Dict[str, Tensor]]:
        """Top-k over confidences: the whole post-processing of ER-Pose (no NMS).

        Returns per image a dict with ``scores`` (M,), ``keypoints`` (M, K, 2),
        ``keypoint_scores`` (M, K) and ``bboxes`` (M, 4) derived from the keypoints
        (or from the box branch when present), sorted by score. Candidates with a score
        ``<= score_thr`` are dropped, and with ``dedupe_thr`` the duplicates of the parallel
        OKS dedupe. The selection itself is :meth:`batched_topk`, which the ONNX export uses
        unchanged.
        """
        top = self.batched_topk(outs, score_thr=score_thr, max_per_img=max_per_img, pad=False,
                                dedupe_thr=dedupe_thr)
        keys = ('scores', 'keypoints', 'keypoint_scores', 'bboxes')
        return [{k: top[k][b][top['valid'][b]] for k in keys}
                for b in range(top['scores'].shape[0])]

    def batched_topk(self, outs: Dict[str, Tensor], score_thr: float = DEFAULT_SCORE_THR,
                     max_per_img: int = DEFAULT_MAX_PER_IMG, pad: Optional[bool] = None,
                     dedupe_thr: Optional[float] = None) -> Dict[str, Tensor]:
        """Fixed-shape top-k selection shared by :meth:`select_topk` (PyTorch) and the
        exported graph (:meth:`export_predict`).

        Args:
            outs: output of :meth:`decode`.
            score_thr: candidates with ``score <= score_thr`` are marked invalid.
            max_per_img: k.
            pad: append ``max_per_img`` dummy candidates (score 0) before the top-k, so
                that k = max_per_img is valid for any number of candidates N (exported
                graphs with dynamic input sizes). Default: only while exporting to ONNX.
                Without padding k = min(max_per_img, N).
            dedupe_thr: None (default): a plain top-k. An OKS threshold in (0, 1]: one
                parallel suppression pass over the k candidates
                (:func:`erpose_mm.structures.dedupe_topk`, sigmas of the head, scale 0.53 x
                the keypoint box area): dropped rows become invalid and move behind the
                kept ones; shapes stay fixed.

        Returns:
            dict of batched tensors sorted by score: ``scores`` (B, k), ``keypoints``
            (B, k, K, 2), ``keypoint_scores`` (B, k, K), ``bboxes`` (B, k, 4) and
            ``valid`` (B, k) bool (``score > score_thr``, and not a duplicate with
            ``dedupe_thr``); valid rows come first.
        """
        if pad is None:
            pad = torch.onnx.is_in_onnx_export()
        conf = outs['conf_logits']                  # (B, N)
        kpts = outs['keypoints'].flatten(2)         # (B, N, 2K)
        vis = outs['vis_logits']                    # (B, N, K)
        boxes = outs.get('bboxes')                  # (B, N, 4) or None
        if pad:
            # dummy candidates: logit -1e4 -> score exactly 0 after the sigmoid
            def padded(t: Tensor, value: float) -> Tensor:
                filler = torch.full_like(t[:, :1], value)
                return torch.cat([t, filler.expand(-1, max_per_img, *t.shape[2:])], 1)

            conf, kpts, vis = padded(conf, -1e4), padded(kpts, 0.), padded(vis, -1e4)
            if boxes is not None:
                boxes = padded(boxes, 0.)
            k = max_per_img
        else:
            k = min(max_per_img, conf.shape[1])
        top_scores, top_idx = conf.sigmoid().topk(k, dim=1)
        idx = top_idx.unsqueeze(-1)

        def take(t: Tensor) -> Tensor:  # (B, N, C) -> (B, k, C)
            return t.gather(1, idx.expand(-1, -1, t.shape[-1]))

        keypoints = take(kpts)
        keypoints = keypoints.reshape(keypoints.shape[0], keypoints.shape[1], -1, 2)
        keypoint_scores = take(vis).sigmoid()
        bboxes = take(boxes) if boxes is not None else keypoints_to_bboxes(keypoints)
        top = dict(scores=top_scores, keypoints=keypoints, keypoint_scores=keypoint_scores,
                   bboxes=bboxes, valid=top_scores > score_thr)
        if dedupe_thr is None:
            return top
        kpt_boxes = bboxes if boxes is None else keypoints_to_bboxes(keypoints)
        return dedupe_topk(top, self.sigmas, dedupe_thr, kpt_boxes=kpt_boxes)

    def export_predict(self, feats: Sequence[Tensor], score_thr: float = DEFAULT_SCORE_THR,
                       max_per_img: int = DEFAULT_MAX_PER_IMG,
                       dedupe_thr: Optional[float] = None) -> Tuple[Tensor, Tensor]:
        """Deployment output (ONNX / MMDeploy): SAH branch, decode and top-k, no NMS.

        Returns fixed-shape tensors in input-image (network input) pixels:

        - ``dets`` (B, max_per_img, 5): x1, y1, x2, y2 (tight box around the keypoints,
          not clipped), score;
        - ``keypoints`` (B, max_per_img, K, 3): x, y, keypoint score.

        Rows are sorted by score. Rows with ``score <= score_thr`` are padding: their
        score and keypoint scores are set to 0 (MMDeploy's pose-detection backend model
        and ``onnx_runner`` drop rows with score 0). With ``dedupe_thr`` the duplicates of the
        parallel OKS dedupe (:meth:`batched_topk`) are padding too, after the kept rows.
        """
        outs = self.dense_outputs(feats, 'one2one')
        top = self.batched_topk(outs, score_thr=score_thr, max_per_img=max_per_img, pad=True,
                                dedupe_thr=dedupe_thr)
        valid = top['valid'].to(top['scores'].dtype)
        dets = torch.cat([top['bboxes'], (top['scores'] * valid).unsqueeze(-1)], -1)
        kpt_scores = top['keypoint_scores'] * valid.unsqueeze(-1)
        keypoints = torch.cat([top['keypoints'], kpt_scores.unsqueeze(-1)], -1)
        return dets, keypoints

