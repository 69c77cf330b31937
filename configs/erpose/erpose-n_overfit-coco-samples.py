# Overfit check: train and evaluate ER-Pose-n on the 4 real COCO images of
# ../shared/data/coco (mmpose's test samples). A model that can learn must reach AP >= 0.95.
#   python tools/train.py configs/erpose/erpose-n_overfit-coco-samples.py
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/coco.py']
input_size = (480, 480)
data_root = '../shared/data/coco/'
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)


# `_base_.<name>` is the bases' value; functions defined in a config are not config keys
def _at_input_size(pipeline):
    """`pipeline` with its input-size settings and target codec at `input_size`."""
    sized = dict(img_scale=input_size, input_size=input_size, encoder=codec)
    return [{k: sized.get(k, v) for k, v in t.items()} for t in pipeline]


def _runtime_hook(hook_type, **changes):
    """The runtime's custom hook of `hook_type`, with `changes`."""
    return dict(next(h for h in _base_.custom_hooks if h['type'] == hook_type), **changes)


# no augmentation: the point is to fit these images. COCO's stage-2 pipeline without HSV
# and flip: its deterministic affine is the val pipeline's letterbox (BottomupResize), but
# it also transforms the annotations
train_pipeline_stage1 = [t for t in _at_input_size(_base_.train_pipeline_stage2)
                         if t['type'] not in ('YOLOXHSVRandomAug', 'RandomFlip')]
train_pipeline_stage2 = train_pipeline_stage1
val_pipeline = _at_input_size(_base_.val_pipeline)
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
# a fast EMA for 600 steps; no pipeline switch (no augmentation to drop)
custom_hooks = [_runtime_hook('EMAHook', momentum=0.02),
                _runtime_hook('KeypointCountCheckHook'), _runtime_hook('CheckpointFitHook')]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=100, max_keep_ckpts=1, save_best='coco/AP'))
