# Dataset metainfo of a 5-keypoint set (nose, wrists, ankles), the example of
# docs/custom_keypoints.md. An MMPose metainfo file: keypoint names and ids, colours,
# left/right swap partners (horizontal flip), skeleton links (drawing), per-keypoint
# weights and OKS sigmas (evaluation, assignment and the Smooth-OKS loss).
dataset_info = dict(
    dataset_name='synthetic5',
    paper_info=dict(),
    keypoint_info={
        0: dict(name='nose', id=0, color=[51, 153, 255], type='upper', swap=''),
        1: dict(name='left_wrist', id=1, color=[0, 255, 0], type='upper', swap='right_wrist'),
        2: dict(name='right_wrist', id=2, color=[255, 128, 0], type='upper', swap='left_wrist'),
        3: dict(name='left_ankle', id=3, color=[0, 255, 0], type='lower', swap='right_ankle'),
        4: dict(name='right_ankle', id=4, color=[255, 128, 0], type='lower', swap='left_ankle'),
    },
    skeleton_info={
        0: dict(link=('nose', 'left_wrist'), id=0, color=[0, 255, 0]),
        1: dict(link=('nose', 'right_wrist'), id=1, color=[255, 128, 0]),
        2: dict(link=('nose', 'left_ankle'), id=2, color=[0, 255, 0]),
        3: dict(link=('nose', 'right_ankle'), id=3, color=[255, 128, 0]),
    },
    joint_weights=[1.0, 1.2, 1.2, 1.5, 1.5],
    # COCO's sigmas of the same keypoints (annotator spread / person scale)
    sigmas=[0.026, 0.062, 0.062, 0.089, 0.089])
