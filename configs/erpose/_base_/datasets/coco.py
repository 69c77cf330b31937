# COCO person keypoints, bottom-up, 640x640 (paper recipe: Mosaic + affine + HSV + flip; the
# last epochs drop Mosaic: `train_pipeline_stage2`, switched in by the runtime's hook).
# Evaluated with MMPose's CocoMetric, no NMS. The pipelines are written here only: other
# input sizes and recipes (coco-800.py, the synthetic and overfit configs) derive theirs.
input_size = (640, 640)
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
# training set: CocoDataset checked before training (erpose_mm/datasets/checked_dataset.py;
# max_bad_image_fraction=0.05 by default), in every Runner, MMPose's tools included
train_dataset_type = 'CheckedCocoDataset'
data_mode = 'bottomup'
metainfo_file = 'configs/_base_/datasets/coco.py'
train_ann = 'annotations/person_keypoints_train2017.json'
train_img = 'train2017/'
val_ann = 'annotations/person_keypoints_val2017.json'
val_img = 'val2017/'

# the codec is MMPose's YOLOX-Pose annotation processor: it maps the annotations into
# `gt_instance_labels` (and MMDeploy keys its pose-detection export on this codec type)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)

train_pipeline_stage1 = [
    dict(type='LoadImage'),
    dict(type='Mosaic', img_scale=input_size, pad_val=114.0,
         pre_transform=[dict(type='LoadImage')]),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_factor=0.1,
         rotate_factor=0, scale_factor=(0.5, 1.5), pad_val=114, distribution='uniform',
         transform_mode='perspective', bbox_keep_corner=False, clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    # people with no labelled keypoint are kept: the head treats them as ignore regions
    dict(type='FilterAnnotations', by_kpt=False, by_box=True, keep_empty=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_pipeline_stage2 = [
    dict(type='LoadImage'),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_prob=0, rotate_prob=0,
         scale_prob=0, scale_type='long', pad_val=(114, 114, 114), bbox_keep_corner=False,
         clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=False, by_box=True, keep_empty=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=input_size, pad_val=(114, 114, 114)),
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size',
                    'input_center', 'input_scale')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=train_dataset_type, data_root=data_root, data_mode=data_mode,
                 metainfo=dict(from_file=metainfo_file),
                 ann_file=train_ann, data_prefix=dict(img=train_img),
                 pipeline=train_pipeline_stage1))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    pin_memory=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode,
                 metainfo=dict(from_file=metainfo_file),
                 ann_file=val_ann, data_prefix=dict(img=val_img), test_mode=True,
                 pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=data_root + val_ann, score_mode='bbox',
                     nms_mode='none')
test_evaluator = val_evaluator
