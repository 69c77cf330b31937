from .smooth_oks_loss import SmoothOKSLoss, keypoint_similarity

__all__ = ['SmoothOKSLoss', 'keypoint_similarity']
