"""ER-Pose head: box-free, keypoint-driven, dual-assignment (MAH + SAH), NMS-free decode."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import MODELS, TASK_UTILS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList

from ..layers import fuse_conv_bn
from ...structures import (DEFAULT_MAX_PER_IMG, DEFAULT_SCORE_THR, decode_settings,
                           keypoints_to_bboxes, oks_nms)
from ...structures.oks import batched_oks
from ...utils.dist import get_world_size, rank_mean_normalizers
from .erpose_branches import ERPoseBranches
from .keypoint_prior import keypoint_offset_prior
from .targets import pad_targets

# how the SAH's positive is chosen: see ERPoseHead's ``one2one_assign``
ONE2ONE_ASSIGN = ('own', 'one2many', 'one2many_topk')


@MODELS.register_module()
class ERPoseHead(BaseHead):
    """ER-Pose prediction head with MAH/SAH dual assignment and NMS-free top-k decoding.

    Args:
        num_keypoints: K.
        in_channels: channels of each input level (the neck outputs).
        featmap_strides: stride of each input level, e.g. (16, 32) for n, (8, 16, 32) else.
        kpt_channels: hidden width of the keypoint branch. None -> ``max(C_0 // 4, 3K)``.
        conf_channels: hidden width of the confidence branch. None -> ``C_0``.
        offset_scale: keypoint = cell centre + offset_scale * offset * stride.
        metainfo: dataset meta file providing the OKS sigmas.
        with_one2many: train the one-to-many head (MAH). False = SAH-only ablation.
        detach_one2one: the SAH trains on detached features (YOLOv10): its losses reach
            only the SAH branches, never the neck or backbone that the MAH trains densely.
            Ignored without a MAH (the SAH is then the only thing that trains the backbone).
        share_regression: False (default, the paper's layout): the SAH is a full copy of the
            MAH. True: one keypoint/visibility (and box) module serves both heads; only the
            confidence branch is duplicated. The shared module runs twice in training, on
            the live features for the MAH and on the (detached) SAH features for the SAH, so
            it receives the dense MAH regression gradients and the SAH's; the neck and
            backbone still get none from the SAH. Each head ranks cells with its own
            confidence and resolves contention differently (top-k vs one-to-one), so the
            shared output can be pulled towards two people. Inference parameters are the same
            either way. See docs/design.md and :meth:`_loss`.
        with_bbox: add a box branch + IoU loss (box-driven ablations of Table III).
        assigner_one2many / assigner_one2one: KeypointDrivenAssigner configs (topk 10 / 1).
        conf_target: 'soft' (TAL-style: the positive's alignment score normalised per
            person, times that person's best OKS; the confidence learns pose quality) or
            'hard' (1 at positives, the 0/1 labels of paper Eq. 11). See docs/design.md.
        loss_pose / loss_vis / loss_conf / loss_bbox: loss configs (weights 15 / 1 / 1).
        one2many_weight: weight of the MAH losses relative to SAH.
        one2one_assign: how the SAH's single positive per person is chosen (the paper
            says only that the SAH assigns one positive per instance):

            * ``'own'`` (default): the one-to-one matching ranks cells by the SAH's own
              predictions (``conf^alpha * OKS^beta`` of the SAH's confidence and keypoints);
            * ``'one2many'``: the same matching ranks cells by the MAH's predictions, so the
              SAH's positive is where the MAH's score peaks (the cell OKS-NMS would keep);
            * ``'one2many_topk'``: the SAH's own score ranks only the person's MAH positives
              (its top-k cells), as YOLO26 picks its one-to-one positive among the top
              cells of the one-to-many metric; people without MAH positives keep their
              usual candidates.

            The SAH's soft confidence target is the OKS of the SAH's own keypoints at its
            positive in every mode. Needs a MAH for the two ``'one2many'`` modes.
        one2one_conf_target: the SAH's confidence target, ``'soft'`` or ``'hard'``; None:
            ``conf_target`` (both heads the same).
        one2one_pos_weight: weight of the SAH's positive cells in its confidence BCE (1: the
            paper's plain BCE). One positive per person against the MAH's top-k leaves the
            SAH's confidence with about k times fewer positive terms for as many negatives,
            which pulls its scores on true people down; a weight near the MAH's positives per
            person restores the MAH's balance.
        one2one_peak_filter: give the SAH's confidence branch a learned 3-D max filter
            (:class:`PeakFilter`, DeFCN's 3DMF): its confidence logit also sees each hidden
            channel's maximum over the 3x3 neighbourhood on its own and the adjacent levels,
            so it can fire at one cell per person without NMS. The MAH has none. Part of the
            exported model (MaxPool, Resize, Max, 1x1 convs; no loop).
        oks_scale: where the person scale ``s`` (``s^2`` in the OKS of the assigner and of
            the Smooth-OKS loss) comes from. ``'bbox'`` (default, the paper: "the square
            root of the area of the human bounding box"): the area of the (augmented) GT
            box. ``'area'``: the annotation's ``area`` (COCO: the segmentation area, about
            0.53 x the box area), the scale the COCO metric uses; falls back to
            0.53 x box area where a dataset has no areas.
        kpt_prior_height: initialise the keypoint offsets at a mean standing pose of a
            person ``kpt_prior_height`` strides tall, centred on the cell (keypoints named
            in ``metainfo``; unknown names start at the centre). None: all offsets start at
            0 (the cell centre). The paper leaves the initialisation open; starting from a
            mean pose keeps the normalised error ``u`` of far keypoints (face, wrists,
            ankles) out of the flat tail of the Smooth-OKS loss early in training, where
            from the cell centre their gradient is ~e^-u (docs/design.md). Training-time
            only: the inference graph and parameter count do not change.
    """

    def __init__(self,
                 num_keypoints: int = 17,
                 in_channels: Sequence[int] = (256, 512, 1024),
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 kpt_channels: Optional[int] = None,
                 conf_channels: Optional[int] = None,
                 offset_scale: float = 2.0,
                 metainfo: Optional[str] = 'configs/_base_/datasets/coco.py',
                 with_one2many: bool = True,
                 detach_one2one: bool = True,
                 share_regression: bool = False,
                 with_bbox: bool = False,
                 assigner_one2many: ConfigType = dict(type='KeypointDrivenAssigner', topk=10),
                 assigner_one2one: ConfigType = dict(type='KeypointDrivenAssigner', topk=1),
                 conf_target: str = 'soft',
                 loss_pose: ConfigType = dict(type='SmoothOKSLoss', loss_weight=15.0),
                 loss_vis: ConfigType = dict(type='BCELoss', use_target_weight=True,
                                             reduction='sum', loss_weight=1.0),
                 loss_conf: ConfigType = dict(type='BCELoss', use_target_weight=True,
                                              reduction='sum', loss_weight=1.0),
                 loss_bbox: ConfigType = dict(type='IoULoss', mode='square', eps=1e-16,
                                              reduction='sum', loss_weight=5.0),
                 one2many_weight: float = 1.0,
                 one2one_assign: str = 'own',
                 one2one_conf_target: Optional[str] = None,
                 one2one_pos_weight: float = 1.0,
                 one2one_peak_filter: bool = False,
                 oks_scale: str = 'bbox',
                 kpt_prior_height: Optional[float] = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        if len(in_channels) != len(featmap_strides):
            raise ValueError(f'ERPoseHead: {len(in_channels)} input levels but '
                             f'{len(featmap_strides)} strides')
        if conf_target not in ('hard', 'soft'):
            raise ValueError(f"ERPoseHead: conf_target must be 'hard' or 'soft', got {conf_target!r}")
        if one2one_conf_target not in (None, 'hard', 'soft'):
            raise ValueError("ERPoseHead: one2one_conf_target must be None, 'hard' or 'soft', "
                             f'got {one2one_conf_target!r}')
        if one2one_assign not in ONE2ONE_ASSIGN:
            raise ValueError(f'ERPoseHead: one2one_assign must be one of {ONE2ONE_ASSIGN}, '
                             f'got {one2one_assign!r}')
        if one2one_assign != 'own' and not with_one2many:
            raise ValueError(f"ERPoseHead: one2one_assign={one2one_assign!r} needs the "
                             'one-to-many head (with_one2many=True)')
        if oks_scale not in ('bbox', 'area'):
            raise ValueError(f"ERPoseHead: oks_scale must be 'bbox' or 'area', got {oks_scale!r}")
        self.oks_scale = oks_scale
        self.num_keypoints = num_keypoints
        self.in_channels = list(in_channels)
        self.featmap_strides = list(featmap_strides)
        self.offset_scale = offset_scale
        self.with_bbox = with_bbox
        self.detach_one2one = detach_one2one
        self.conf_target = conf_target
        self.one2many_weight = one2many_weight
        self.one2one_assign = one2one_assign
        self.one2one_conf_target = one2one_conf_target or conf_target
        if not one2one_pos_weight > 0:
            raise ValueError(f'ERPoseHead: one2one_pos_weight must be > 0, got {one2one_pos_weight!r}')
        self.one2one_pos_weight = float(one2one_pos_weight)
        if metainfo is not None:
            from mmpose.datasets.datasets.utils import parse_pose_metainfo
            meta = parse_pose_metainfo(dict(from_file=metainfo))
            sigmas = meta['sigmas']
            if len(sigmas) != num_keypoints:
                raise ValueError(f'ERPoseHead: num_keypoints={num_keypoints} but {metainfo} '
                                 f'defines {len(sigmas)} keypoints')
            names = [meta['keypoint_id2name'][i] for i in range(num_keypoints)]
        else:
            sigmas = np.full(num_keypoints, 0.5 / num_keypoints)
            names = [''] * num_keypoints
        kpt_prior = None if kpt_prior_height is None else keypoint_offset_prior(
            names, kpt_prior_height, offset_scale)
        kpt_channels = kpt_channels or max(in_channels[0] // 4, 3 * num_keypoints)
        conf_channels = conf_channels or in_channels[0]
        branch_args = dict(in_channels=in_channels, num_keypoints=num_keypoints,
                           kpt_channels=kpt_channels, conf_channels=conf_channels,
                           strides=featmap_strides, with_bbox=with_bbox, kpt_prior=kpt_prior)
        self.one2one = ERPoseBranches(**branch_args, peak_filter=one2one_peak_filter)
        # the one-to-many head is the same architecture, trained with top-k assignment
        self.one2many = ERPoseBranches(**branch_args) if with_one2many else None
        self.share_regression = bool(share_regression and with_one2many)
        if self.share_regression:
            # the same modules under both prefixes; parameters() de-duplicates them
            self.one2many.kpt = self.one2one.kpt
            self.one2many.bbox = self.one2one.bbox

        self.register_buffer('sigmas', torch.as_tensor(np.asarray(sigmas), dtype=torch.float32),
                             persistent=False)
        # the pose loss reads the same sigmas unless it is given its own
        if isinstance(loss_pose, dict) and loss_pose.get('type') == 'SmoothOKSLoss' and \
                'sigmas' not in loss_pose and 'metainfo' not in loss_pose:
            loss_pose = dict(loss_pose, sigmas=list(map(float, sigmas)))
        self.loss_pose = MODELS.build(loss_pose)
        self.loss_vis = MODELS.build(loss_vis)
        self.loss_conf = MODELS.build(loss_conf)
        self.loss_bbox = MODELS.build(loss_bbox) if with_bbox else None
        self.assigner_one2one = TASK_UTILS.build(assigner_one2one)
        self.assigner_one2many = TASK_UTILS.build(assigner_one2many) if with_one2many else None
        self._prior_cache: Dict[Tuple, Tuple[Tensor, Tensor]] = {}

    # ------------------------------------------------------------------ forward / decode
    def forward(self, feats: Sequence[Tensor]):
        """Raw outputs of the one-to-one head (the only branch at inference)."""
        return self.one2one(self._select(feats))

    def _select(self, feats: Sequence[Tensor]) -> List[Tensor]:
        feats = list(feats)
        if len(feats) < len(self.featmap_strides):
            raise ValueError(f'ERPoseHead expects {len(self.featmap_strides)} feature levels, '
                             f'got {len(feats)}')
        return feats[-len(self.featmap_strides):]

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

    def decode(self, confs: List[Tensor], kpts: List[Tensor],
               bboxes: Optional[List[Tensor]] = None) -> Dict[str, Tensor]:
        """Flatten and decode raw level outputs.

        Returns a dict with ``conf_logits`` (B, N), ``keypoints`` (B, N, K, 2) in input px,
        ``vis_logits`` (B, N, K), ``priors`` (N, 2), ``strides`` (N,) and, with a box branch,
        ``bboxes`` (B, N, 4) xyxy in input px.
        """
        K = self.num_keypoints
        B = confs[0].shape[0]
        sizes = [c.shape[2:] for c in confs]
        priors, strides = self.get_priors(sizes, confs[0].device, confs[0].dtype)
        conf = torch.cat([c.flatten(2) for c in confs], 2).reshape(B, -1)
        raw = torch.cat([k.flatten(2) for k in kpts], 2).permute(0, 2, 1)  # (B, N, 3K)
        offsets = raw[..., :2 * K].reshape(B, -1, K, 2)
        keypoints = priors[None, :, None] + offsets * (self.offset_scale * strides[None, :, None, None])
        out = dict(conf_logits=conf, keypoints=keypoints, vis_logits=raw[..., 2 * K:],
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
        if branch not in ('one2one', 'one2many'):
            raise ValueError(f"ERPoseHead: branch must be 'one2one' or 'one2many', got {branch!r}")
        module = self.one2one if branch == 'one2one' else self.one2many
        if module is None:
            raise ValueError(f"ERPoseHead: branch='{branch}' but the one-to-many head was "
                             'removed (switch_to_deploy) or never built')
        return self.decode(*module(self._select(feats)))

    # ------------------------------------------------------------------ inference
    def predict(self, feats, batch_data_samples: OptSampleList, test_cfg: ConfigType = {}):
        """NMS-free prediction: top-k over SAH confidences (input-image coordinates).

        test_cfg: ``score_thr`` (0.01), ``max_per_img`` (100), ``dedupe_thr`` (None: off;
        an OKS threshold turns on the parallel dedupe of
        :func:`erpose_mm.structures.dedupe_topk` over the top-k); for ablations
        ``branch='one2many'`` with ``nms_thr`` (OKS-NMS) and ``nms_pre``.
        """
        from ...structures import dedupe_setting
        if isinstance(feats, list) and feats and isinstance(feats[0], (list, tuple)):
            raise NotImplementedError('ERPoseHead: flip / multi-scale test is not supported')
        branch = test_cfg.get('branch', 'one2one')
        outs = self.dense_outputs(feats, branch)
        score_thr, max_per_img = decode_settings(test_cfg)
        dets = self.select_topk(outs, score_thr=score_thr,
                                max_per_img=max_per_img if branch == 'one2one'
                                else test_cfg.get('nms_pre', 1000),
                                dedupe_thr=dedupe_setting(test_cfg))
        results = []
        for i, det in enumerate(dets):
            if branch == 'one2many' and test_cfg.get('nms_thr', 1.0) < 1.0:
                keep = self.oks_nms(det, test_cfg['nms_thr'])[:max_per_img]
                det = {k: v[keep] for k, v in det.items()}
            meta = batch_data_samples[i].metainfo if batch_data_samples else {}
            region = self._image_region(meta)
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

    @staticmethod
    def _image_region(meta: dict) -> Optional[Tuple[float, float, float, float]]:
        """Box-clipping region in input pixels: the part of the network input covered
        by the image (``BottomupResize`` centres it and pads around it), so that boxes
        mapped back to the original image stay inside it; without the resize metainfo,
        the whole input."""
        if 'input_size' not in meta:
            return None
        w, h = (float(v) for v in meta['input_size'])
        if all(k in meta for k in ('input_center', 'input_scale', 'ori_shape')):
            c = np.asarray(meta['input_center'], np.float64)
            s = np.asarray(meta['input_scale'], np.float64)
            oh, ow = meta['ori_shape'][:2]
            lo = (0.0 - (c - 0.5 * s)) / s * (w, h)
            hi = (np.array([ow, oh], np.float64) - (c - 0.5 * s)) / s * (w, h)
            return (max(lo[0], 0.0), max(lo[1], 0.0), min(hi[0], w), min(hi[1], h))
        return (0.0, 0.0, w, h)

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
        from ...structures import dedupe_topk
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

    def oks_nms(self, det: Dict[str, Tensor], thr: float) -> Tensor:
        """Greedy OKS-NMS of one image's detections (only for the MAH+NMS ablation of
        Table VII); see :func:`erpose_mm.structures.oks_nms`."""
        return oks_nms(det['keypoints'], det['scores'], det['bboxes'], self.sigmas, thr)

    # ------------------------------------------------------------------ training
    def loss(self, feats, batch_data_samples: OptSampleList, train_cfg: ConfigType = {}) -> dict:
        # Under mixed precision (CPUBF16OptimWrapper, AmpOptimWrapper) the head, the
        # assignment and the losses stay fp32: keypoints decode as cell + offset * stride,
        # and in bf16 a coordinate near 256 px is only resolved to 1-2 px.
        feats = [f.float() for f in self._select(feats)]
        with torch.autocast(feats[0].device.type, enabled=False):
            return self._loss(feats, batch_data_samples)

    def _loss(self, feats: List[Tensor], batch_data_samples: OptSampleList) -> dict:
        """Both heads' losses. Which loss reaches which parameters:

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
        o2o_feats = [f.detach() for f in feats] if detach else feats
        o2o_outs = self.decode(*self.one2one(o2o_feats))
        gt = self.batch_targets(batch_data_samples, feats[0].device)
        o2m_outs = o2m_res = None
        if self.one2many is not None:
            o2m_outs = self.decode(*self.one2many(feats))
            o2m_res = self.assign(o2m_outs, gt, self.assigner_one2many)
        o2o_res = self.assign_one2one(o2o_outs, gt, o2m_outs, o2m_res)
        losses = self.branch_loss(o2o_outs, gt, o2o_res, self.one2one_conf_target,
                                  pos_weight=self.one2one_pos_weight)
        if o2m_res is not None:
            # share of the SAH's positives that are also MAH positives of the same person
            o2o_pos = o2o_res['gt_inds'] >= 0
            same = o2o_pos & (o2m_res['gt_inds'] == o2o_res['gt_inds'])
            losses['o2o_in_o2m'] = same.sum().to(o2o_outs['conf_logits']) / \
                o2o_pos.sum().clamp(min=1).to(o2o_outs['conf_logits'])
            o2m = self.branch_loss(o2m_outs, gt, o2m_res, self.conf_target)
            for k, v in o2m.items():
                if k == 'num_widened':
                    continue  # the MAH's top-k never widens
                losses[f'{k}_o2m'] = v * self.one2many_weight if k.startswith('loss') else v
        return losses

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
    def assign_one2one(self, o2o_outs: Dict[str, Tensor], gt: Dict[str, Tensor],
                       o2m_outs: Optional[Dict[str, Tensor]] = None,
                       o2m_res: Optional[Dict[str, Tensor]] = None) -> Dict[str, Tensor]:
        """The SAH's one positive per person, chosen as ``one2one_assign`` says.

        Args:
            o2o_outs / o2m_outs: :meth:`decode` outputs of the SAH / MAH.
            gt: :meth:`batch_targets`.
            o2m_res: the MAH's assignment (``gt_inds`` (B, N)).

        Returns:
            :meth:`KeypointDrivenAssigner.assign_batch`'s dict for the SAH. In the two
            ``'one2many'`` modes ``quality`` and ``align`` at each positive are the OKS of
            the SAH's own keypoints there, so the soft confidence target is that OKS in
            every mode.
        """
        if self.one2one_assign == 'own':
            return self.assign(o2o_outs, gt, self.assigner_one2one)
        if self.one2one_assign == 'one2many':
            res = self.assign(o2m_outs, gt, self.assigner_one2one)
        else:  # 'one2many_topk': the SAH's score over the person's MAH positives
            G = gt['mask'].shape[1]
            g_index = torch.arange(G, device=o2m_res['gt_inds'].device).view(1, G, 1)
            mah_pos = o2m_res['gt_inds'].unsqueeze(1) == g_index             # (B, G, N)
            mask = mah_pos | ~mah_pos.any(-1, keepdim=True)
            res = self.assign(o2o_outs, gt, self.assigner_one2one, candidate_mask=mask)
        pos_b, pos_n = (res['gt_inds'] >= 0).nonzero(as_tuple=True)
        g = res['gt_inds'][pos_b, pos_n]
        # per positive: (P, 1, K, 2) vs (P, 1, K, 2) -> (P, 1, 1), the assigner's own OKS
        own = batched_oks(o2o_outs['keypoints'][pos_b, pos_n].detach().float()[:, None],
                          gt['keypoints'][pos_b, g].float()[:, None],
                          gt['keypoints_visible'][pos_b, g].float()[:, None],
                          gt['areas'][pos_b, g].float()[:, None], self.sigmas).reshape(-1)
        quality = torch.zeros_like(res['quality'])
        quality[pos_b, pos_n] = own
        return dict(res, quality=quality, align=quality.clone())

    def _branch_loss(self, raw_outs, gt: Dict[str, Tensor], assigner) -> dict:
        """One head's losses from its raw outputs, assigned by ``assigner`` on its own
        predictions, with the head's ``conf_target`` (what the MAH does)."""
        outs = self.decode(*raw_outs)
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

    # ------------------------------------------------------------------ deploy
    def switch_to_deploy(self, test_cfg: Optional[dict] = None) -> None:
        """Strip everything inference does not use (MAH) and fold BN into convs."""
        self.one2many = None
        self.assigner_one2many = None
        fuse_conv_bn(self.one2one)
