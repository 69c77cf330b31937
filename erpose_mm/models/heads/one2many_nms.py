"""Decoding of the one-to-many head (MAH) with OKS-NMS: an ablation (Table VII's MAH + NMS
rows), not the deployed path, which is the one-to-one head (SAH) with a top-k and no NMS.

:meth:`ERPoseHead.predict` hands over to :func:`decode_one2many_nms` when
``test_cfg.branch='one2many'``; configs select it with ``model.test_cfg.branch``,
``model.test_cfg.nms_pre`` and ``model.test_cfg.nms_thr``.
"""
from typing import Dict, List, Sequence

from torch import Tensor

from mmpose.utils.typing import ConfigType

from ...structures import decode_settings, dedupe_setting, oks_nms

#: MAH candidates kept per image before the NMS (``test_cfg.nms_pre``)
DEFAULT_NMS_PRE = 1000
#: ``test_cfg.nms_thr`` default: 1.0 turns the NMS off (no OKS exceeds 1)
DEFAULT_NMS_THR = 1.0


def oks_nms_detections(det: Dict[str, Tensor], sigmas: Tensor, thr: float) -> Tensor:
    """Greedy OKS-NMS of one image's detections (a :meth:`ERPoseHead.select_topk` dict):
    the kept indices, by score; see :func:`erpose_mm.structures.oks_nms`."""
    return oks_nms(det['keypoints'], det['scores'], det['bboxes'], sigmas, thr)


def decode_one2many_nms(head, feats: Sequence[Tensor],
                        test_cfg: ConfigType) -> List[Dict[str, Tensor]]:
    """Per-image detections of ``head``'s MAH: its ``nms_pre`` best candidates (with
    ``dedupe_thr``, after the parallel dedupe) above ``score_thr``, then with
    ``nms_thr < 1`` greedy OKS-NMS and the ``max_per_img`` best survivors.

    Args:
        head: an :class:`ERPoseHead` that still has its one-to-many head.
        feats: the neck's outputs.
        test_cfg: ``branch`` (``'one2many'``), ``nms_pre``, ``nms_thr``, ``score_thr``,
            ``max_per_img``, ``dedupe_thr``.

    Returns:
        :meth:`ERPoseHead.select_topk`'s list of dicts.
    """
    outs = head.dense_outputs(feats, test_cfg.get('branch', 'one2many'))
    score_thr, max_per_img = decode_settings(test_cfg)
    dets = head.select_topk(outs, score_thr=score_thr,
                            max_per_img=test_cfg.get('nms_pre', DEFAULT_NMS_PRE),
                            dedupe_thr=dedupe_setting(test_cfg))
    nms_thr = test_cfg.get('nms_thr', DEFAULT_NMS_THR)
    if nms_thr >= 1.0:
        return dets
    kept = []
    for det in dets:
        keep = oks_nms_detections(det, head.sigmas, nms_thr)[:max_per_img]
        kept.append({k: v[keep] for k, v in det.items()})
    return kept
