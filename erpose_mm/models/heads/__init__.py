from .erpose_head import ERPoseBranches, ERPoseHead

__all__ = ['ERPoseHead', 'ERPoseBranches']
