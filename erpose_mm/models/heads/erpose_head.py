"""ER-Pose head: box-free, keypoint-driven, with a one-to-many head (MAH) trained beside the
one-to-one head (SAH) and an NMS-free decode of the SAH alone.

The class is assembled from its concepts: construction and layout here, inference
(decode, top-k, predict, export) in :mod:`.head_decode`, training (dual assignment,
losses) in :mod:`.head_loss`."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import MODELS, TASK_UTILS
from mmpose.utils.typing import ConfigType, OptConfigType

from ..layers import fuse_conv_bn
from .erpose_branches import ERPoseBranches
from .head_decode import ERPoseDecodeMixin
from .head_loss import ONE2ONE_ASSIGN, ERPoseLossMixin
from .keypoint_prior import keypoint_offset_prior


@MODELS.register_module()
class ERPoseHead(ERPoseDecodeMixin, ERPoseLossMixin, BaseHead):
    """ER-Pose prediction head: the one-to-many head (MAH, ``one2many``) and the one-to-one
    head (SAH, ``one2one``) trained with dual assignment; NMS-free top-k decoding of the SAH.

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
            ``conf_target`` (both heads the same); ``'one2many'``: at the SAH's positive, the
            MAH's predicted confidence at the same cell (detached), a quality estimate the
            MAH learns from about k positives per person where the SAH's own soft target is
            the one OKS of its one cell. Needs a MAH.
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
        if one2one_conf_target not in (None, 'hard', 'soft', 'one2many'):
            raise ValueError("ERPoseHead: one2one_conf_target must be None, 'hard', 'soft' or "
                             f"'one2many', got {one2one_conf_target!r}")
        if one2one_conf_target == 'one2many' and not with_one2many:
            raise ValueError("ERPoseHead: one2one_conf_target='one2many' needs the one-to-many "
                             'head (with_one2many=True)')
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

    def _select(self, feats: Sequence[Tensor]) -> List[Tensor]:
        feats = list(feats)
        if len(feats) < len(self.featmap_strides):
            raise ValueError(f'ERPoseHead expects {len(self.featmap_strides)} feature levels, '
                             f'got {len(feats)}')
        return feats[-len(self.featmap_strides):]

    # ------------------------------------------------------------------ deploy
    def switch_to_deploy(self, test_cfg: Optional[dict] = None) -> None:
        """Strip everything inference does not use (MAH) and fold BN into convs."""
        self.one2many = None
        self.assigner_one2many = None
        fuse_conv_bn(self.one2one)
