from .erpose_branches import BranchOutputs, ERPoseBranches, split_keypoint_channels
from .erpose_head import ERPoseHead
from .loss_terms import is_loss, total_loss
from .one2many_nms import decode_one2many_nms

__all__ = ['ERPoseHead', 'ERPoseBranches', 'BranchOutputs', 'split_keypoint_channels',
           'is_loss', 'total_loss', 'decode_one2many_nms']
