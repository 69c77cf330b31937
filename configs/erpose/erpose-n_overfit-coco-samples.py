# Overfit check: train and evaluate ER-Pose-n on the 4 real COCO images of
# ../shared/data/coco (mmpose's test samples). A model that can learn must reach AP >= 0.95.
#   python tools/train.py configs/erpose/erpose-n_overfit-coco-samples.py
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/coco.py']
input_size = (480, 480)
data_root = '../shared/data/coco/'
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)
# no augmentation: the point is to fit these images. (A deterministic affine = the same
# letterbox as the val pipeline's BottomupResize, but it also transforms the annotations.)
train_pipeline_stage1 = [
    dict(type='LoadImage'),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_prob=0, rotate_prob=0,
         scale_prob=0, scale_type='long', pad_val=(114, 114, 114), bbox_keep_corner=False,
         clip_border=True),
    dict(type='FilterAnnotations', by_kpt=False, by_box=True, keep_empty=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_pipeline_stage2 = train_pipeline_stage1
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=input_size, pad_val=(114, 114, 114)),
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size',
                    'input_center', 'input_scale')),
]
_data = dict(data_root=data_root, ann_file='test_coco.json', data_prefix=dict(img=''))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(**_data, pipeline=train_pipeline_stage1))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(**_data, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator

max_epochs = 600   # one iteration per epoch
train_cfg = dict(max_epochs=max_epochs, val_interval=50, dynamic_intervals=None)
optim_wrapper = dict(optimizer=dict(lr=0.004))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=True, begin=0, end=10),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=max_epochs,
         T_max=max_epochs - 10),
]
custom_hooks = [
    dict(type='EMAHook', ema_type='DedupExpMomentumEMA', momentum=0.02, update_buffers=True,
         strict_load=False, priority=49),
    dict(type='KeypointCountCheckHook'),
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=100, max_keep_ckpts=1, save_best='coco/AP'))
