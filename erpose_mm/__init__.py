"""erpose-mm: ER-Pose (keypoint-driven, NMS-free single-stage pose estimation) for MMPose.

``import erpose_mm`` (or ``custom_imports=dict(imports=['erpose_mm'])`` in a config)
registers every ER-Pose module into the MMPose / MMEngine registries.
"""
from . import compat

compat.apply_all()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registration)
from . import deploy  # noqa: E402,F401  (MMDeploy rewriter hook + inference adapters; lazy, no mmdeploy import)
from . import apis  # noqa: E402,F401  (MMPoseInferencer aliases: pose2d='erpose-n')

__version__ = '0.1.0'
