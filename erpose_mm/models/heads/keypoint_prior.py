"""Mean-pose initialisation of the keypoint offsets (an ER-Pose head option).

The head regresses each keypoint as ``cell centre + offset_scale * offset * stride``. With
the usual zero-initialised output layer every keypoint starts at the cell centre, so the
normalised error ``u = d / (s k)`` of far keypoints (face, wrists, ankles) starts at 5-15,
where the Smooth-OKS loss is flat (its gradient there is ~e^-u). Starting the offsets at a
mean standing pose roughly halves those initial errors. This is only the output layer's
bias at initialisation; it changes neither the architecture nor the inference graph.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

# A frontal, upright person: (x, y) of each keypoint relative to the centre of the
# person's box, in units of the person's height; x to the image right, y down. The
# person's left side is on the image's right (COCO's convention for people facing the
# camera, which horizontal-flip augmentation preserves). Names as in MMPose's
# COCO / CrowdPose / AIC / MPII metainfo; keypoints with other names start at the centre.
STANDING_POSE: Dict[str, Tuple[float, float]] = {
    'nose': (0.0, -0.42),
    'left_eye': (0.02, -0.44), 'right_eye': (-0.02, -0.44),
    'left_ear': (0.05, -0.43), 'right_ear': (-0.05, -0.43),
    'top_head': (0.0, -0.50), 'head_top': (0.0, -0.50), 'neck': (0.0, -0.34),
    'upper_neck': (0.0, -0.36), 'thorax': (0.0, -0.31),
    'left_shoulder': (0.11, -0.31), 'right_shoulder': (-0.11, -0.31),
    'left_elbow': (0.14, -0.15), 'right_elbow': (-0.14, -0.15),
    'left_wrist': (0.15, -0.02), 'right_wrist': (-0.15, -0.02),
    'left_hip': (0.07, 0.03), 'right_hip': (-0.07, 0.03), 'pelvis': (0.0, 0.03),
    'left_knee': (0.07, 0.25), 'right_knee': (-0.07, 0.25),
    'left_ankle': (0.07, 0.46), 'right_ankle': (-0.07, 0.46),
}


def keypoint_offset_prior(names: Sequence[str], height_in_strides: float,
                          offset_scale: float = 2.0) -> np.ndarray:
    """Initial offsets (K, 2) of a standing person ``height_in_strides`` strides tall.

    Args:
        names: the K keypoint names (dataset metainfo order).
        height_in_strides: assumed person height in units of the level's stride; the same
            for every level, so each level starts with people proportional to its stride.
        offset_scale: the head's ``offset_scale`` (keypoint = centre + offset_scale *
            offset * stride).

    Returns:
        float32 array (K, 2) in offset units.
    """
    if height_in_strides <= 0:
        raise ValueError(f'keypoint_offset_prior: height_in_strides must be > 0, '
                         f'got {height_in_strides}')
    pose = np.array([STANDING_POSE.get(n, (0.0, 0.0)) for n in names], dtype=np.float32)
    return pose.reshape(len(names), 2) * (height_in_strides / offset_scale)
