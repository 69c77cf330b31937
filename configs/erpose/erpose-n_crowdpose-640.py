# ER-Pose-n, CrowdPose (14 keypoints), 640x640.
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/crowdpose.py']
model = dict(head=dict(num_keypoints=14, metainfo='configs/_base_/datasets/crowdpose.py'))
