# ER-Pose-s: YOLOv8-s CSPDarknet/PAN, head on {P3, P4, P5} (paper Table V). 9.69 M params.
deepen_factor = 0.33
widen_factor = 0.5
max_channels = 1024

model = dict(
    type='BottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='YOLOv8CSPDarknet', deepen_factor=deepen_factor,
                  widen_factor=widen_factor, max_channels=max_channels, out_indices=(2, 3, 4)),
    neck=dict(type='YOLOv8PAFPN', in_channels=[128, 256, 512], out_channels=[256, 512, 1024],
              deepen_factor=deepen_factor, widen_factor=widen_factor,
              max_channels=max_channels),
    head=dict(
        type='ERPoseHead',
        num_keypoints=17,
        in_channels=[128, 256, 512],
        featmap_strides=[8, 16, 32],
        kpt_channels=None,         # YOLOv8-pose rule max(C_P3 // 4, 3K): follows K (51 for 17)
        conf_channels=128,         # YOLOv10 rule: C_P3
        metainfo='configs/_base_/datasets/coco.py',  # keypoint names and OKS sigmas
        with_one2many=True,
        detach_one2one=True,       # the SAH trains on detached features (YOLOv10)
        share_regression=False,    # the SAH is a full copy of the MAH (paper layout, docs/design.md)
        kpt_prior_height=4.0,      # offsets start at a standing pose 4 strides tall (docs/design.md)
        assigner_one2many=dict(type='KeypointDrivenAssigner', topk=10, alpha=0.5, beta=6.0),
        assigner_one2one=dict(type='KeypointDrivenAssigner', topk=1, alpha=0.5, beta=6.0),
        conf_target='soft',        # TAL-style quality target, not 0/1 (docs/design.md)
        loss_pose=dict(type='SmoothOKSLoss', mode='soks', loss_weight=15.0),
        loss_vis=dict(type='BCELoss', use_target_weight=True, reduction='sum', loss_weight=1.0),
        loss_conf=dict(type='BCELoss', use_target_weight=True, reduction='sum', loss_weight=1.0),
    ),
    test_cfg=dict(score_thr=0.01, max_per_img=100))
