"""Person IDs across frames from keypoints (pure numpy/scipy; no torch)."""
from .mot_metrics import clear_mot, run_tracker
from .pose_tracker import PoseTracker, pairwise_oks
from .synthetic_walks import make_walking_scene

__all__ = ['PoseTracker', 'pairwise_oks', 'clear_mot', 'run_tracker', 'make_walking_scene']
