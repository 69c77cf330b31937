# ER-Pose-n on the built-in synthetic multi-person data, 256x256, a short CPU schedule
# without Mosaic: the recipe the tests and the learning benchmark build on. The quickstart
# (tools/quickstart.sh) is its ten-minute variant, erpose-n_synthetic-256_quickstart.py.
# Measurements behind its settings: docs/results.md, "Recipe measurements".
# Make the data with
#   python tools/dataset_converters/make_synthetic_coco.py data/synthetic --difficulty easy
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/coco.py']

input_size = (256, 256)
data_root = 'data/synthetic/'
train_ann = 'annotations/person_keypoints_train.json'
val_ann = 'annotations/person_keypoints_val.json'
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)


# `_base_.<name>` is the bases' value; functions defined in a config are not config keys
def _at_input_size(pipeline):
    """`pipeline` with its input-size settings and target codec at `input_size`."""
    sized = dict(img_scale=input_size, input_size=input_size, encoder=codec)
    return [{k: sized.get(k, v) for k, v in t.items()} for t in pipeline]


def _runtime_hook(hook_type, **changes):
    """The runtime's custom hook of `hook_type`, with `changes`."""
    return dict(next(h for h in _base_.custom_hooks if h['type'] == hook_type), **changes)


# short-budget recipe: the COCO pipelines at 256 without Mosaic (it pays off only over
# long schedules) and with a milder random scale; random affine + HSV + flip remain
train_pipeline_stage1 = [
    dict(t, scale_factor=(0.75, 1.25)) if t['type'] == 'BottomupRandomAffine' else t
    for t in _at_input_size(_base_.train_pipeline_stage1) if t['type'] != 'Mosaic'
]
train_pipeline_stage2 = _at_input_size(_base_.train_pipeline_stage2)
val_pipeline = _at_input_size(_base_.val_pipeline)
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, pin_memory=False,
    dataset=dict(data_root=data_root, ann_file=train_ann, data_prefix=dict(img='train/'),
                 pipeline=train_pipeline_stage1))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, pin_memory=False,
    dataset=dict(data_root=data_root, ann_file=val_ann, data_prefix=dict(img='val/'),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_ann)
test_evaluator = val_evaluator

# 570 annotated images / batch 8 = 72 iterations per epoch; 20 epochs = 1440 iterations
max_epochs = 20
num_last_epochs = 2
warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=5, dynamic_intervals=None)
# lr for batch 8 (the paper's 0.01 is for batch 128), picked by 5-epoch runs
optim_wrapper = dict(optimizer=dict(lr=0.002))
# the paper's warm-up + cosine, timed for this schedule, with a warm-up from 1% of the lr
param_scheduler = [
    dict(_base_.param_scheduler[0], start_factor=1e-2, end=warmup_epochs),
    dict(_base_.param_scheduler[1], begin=warmup_epochs, end=max_epochs,
         T_max=max_epochs - warmup_epochs),
]
# a fixed seed: runs repeat (unseeded runs of this recipe spread by a few AP points)
randomness = dict(seed=0)
custom_hooks = [
    # NHWC weights: oneDNN's native CPU layout, faster steps
    dict(type='ChannelsLastHook'),
    _runtime_hook('LastEpochsPipelineSwitchHook', num_last_epochs=num_last_epochs),
    # faster EMA for a short schedule
    _runtime_hook('EMAHook', momentum=0.002),
    _runtime_hook('KeypointCountCheckHook'),
    _runtime_hook('CheckpointFitHook'),
]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='coco/AP'))
