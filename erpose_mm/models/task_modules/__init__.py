from ...structures.oks import (batched_bbox_iou, batched_oks, keypoints_to_bboxes,
                               pairwise_bbox_iou, pairwise_oks)
from .keypoint_driven_assigner import KeypointDrivenAssigner

# the OKS helpers live in erpose_mm.structures; re-exported here for the assigner's users
__all__ = ['KeypointDrivenAssigner', 'pairwise_oks', 'pairwise_bbox_iou', 'keypoints_to_bboxes',
           'batched_oks', 'batched_bbox_iou']
