from .keypoint_driven_assigner import KeypointDrivenAssigner
from .oks import keypoints_to_bboxes, pairwise_bbox_iou, pairwise_oks

__all__ = ['KeypointDrivenAssigner', 'pairwise_oks', 'pairwise_bbox_iou', 'keypoints_to_bboxes']
