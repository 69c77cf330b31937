"""Keypoint geometry shared by the models, the evaluation and the tools (no registries)."""
from .decode_defaults import (DEFAULT_DEDUPE_THR, DEFAULT_MAX_PER_IMG, DEFAULT_SCORE_THR,
                              decode_settings, dedupe_setting)
from .dedupe import candidate_oks, check_dedupe_thr, dedupe_keep, dedupe_topk
from .oks import (batched_bbox_iou, batched_oks, keypoints_to_bboxes, oks_nms, pairwise_bbox_iou,
                  pairwise_oks)

__all__ = ['pairwise_oks', 'batched_oks', 'pairwise_bbox_iou', 'batched_bbox_iou',
           'keypoints_to_bboxes', 'oks_nms', 'DEFAULT_SCORE_THR', 'DEFAULT_MAX_PER_IMG',
           'decode_settings', 'DEFAULT_DEDUPE_THR', 'dedupe_setting', 'candidate_oks',
           'check_dedupe_thr', 'dedupe_keep', 'dedupe_topk']
