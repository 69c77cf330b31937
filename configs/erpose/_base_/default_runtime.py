# Runtime, optimiser and schedule of the paper's recipe (Sec. IV-A): AdamW, lr 0.01 -> 1e-4
# cosine, weight decay 0.05, 600 epochs, EMA. Inherits MMPose's default runtime.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['erpose_mm'], allow_failed_imports=False)

max_epochs = 600
num_last_epochs = 20          # last epochs without Mosaic (pipeline stage 2)
base_lr = 0.01
min_lr = 1e-4
warmup_epochs = 3

train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10,
                 dynamic_intervals=[(max_epochs - num_last_epochs, 1)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# paper: 4 GPUs; the default batch is 4 x 32 = 128 images (auto_scale_lr rescales it)
auto_scale_lr = dict(enable=False, base_batch_size=128)

# GroupedOptimWrapperConstructor: MMEngine's default one, with parameters of equal settings in
# one group (a few groups instead of one per parameter: far fewer optimiser kernels on a GPU)
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05, betas=(0.937, 0.999)),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=10.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=min_lr, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # save_best 'auto': the evaluator's first metric, coco/AP or crowdpose/AP
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3,
                    save_best='auto', rule='greater'))

custom_hooks = [
    # drop Mosaic for the last epochs: switches to the config's `train_pipeline_stage2`
    dict(type='LastEpochsPipelineSwitchHook', num_last_epochs=num_last_epochs,
         switch_pipeline='train_pipeline_stage2'),
    # MMPose's ExpMomentumEMA (YOLOX) averaging the head's shared keypoint branch once per
    # step (MMEngine's loop would average it once per name, i.e. twice)
    dict(type='EMAHook', ema_type='DedupExpMomentumEMA', momentum=0.0002, update_buffers=True,
         strict_load=False, priority=49),
    dict(type='SyncBuffersHook'),
    dict(type='KeypointCountCheckHook'),
    # refuse a load_from checkpoint of another scale / model before it is loaded
    dict(type='CheckpointFitHook'),
]

# BatchNorm statistics per GPU, as the paper (4 GPUs x 32 images); 'torch' (MMEngine's
# sync_bn) converts BN to SyncBN across GPUs for small per-GPU batches (docs/gpu.md)
sync_bn = None

# CPU-safe default; tools/train.py and tools/test.py switch to gloo/CPU DDP when needed
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
