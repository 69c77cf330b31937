"""Person IDs across frames from keypoints (pure numpy/scipy; no torch): the tracker is
:mod:`erpose_mm.runtime.tracker`; here its CLEAR-MOT evaluation and synthetic walks."""
from ..runtime.tracker import PoseTracker, visible_oks_matrix
from .mot_metrics import clear_mot, run_tracker
from .synthetic_walks import make_walking_scene

__all__ = ['PoseTracker', 'visible_oks_matrix', 'clear_mot', 'run_tracker',
           'make_walking_scene']
