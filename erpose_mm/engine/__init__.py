from . import safe_checkpoint
from .cpu_bf16_optim_wrapper import CPUBF16OptimWrapper, cpu_has_native_bf16
from .ema import DedupExpMomentumEMA
from .hooks import (ChannelsLastHook, CheckpointFitHook, KeypointCountCheckHook,
                    LastEpochsPipelineSwitchHook)
from .loss_weight_hook import One2ManyWeightHook
from .optim_constructor import GroupedOptimWrapperConstructor
from .runner import ERPoseRunner

__all__ = ['ChannelsLastHook', 'CheckpointFitHook', 'CPUBF16OptimWrapper', 'cpu_has_native_bf16',
           'DedupExpMomentumEMA', 'ERPoseRunner', 'GroupedOptimWrapperConstructor',
           'LastEpochsPipelineSwitchHook', 'One2ManyWeightHook',
           'KeypointCountCheckHook']
