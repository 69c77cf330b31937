from .cpu_bf16_optim_wrapper import CPUBF16OptimWrapper, cpu_has_native_bf16
from .ema import DedupExpMomentumEMA
from .hooks import ChannelsLastHook, KeypointCountCheckHook, LastEpochsPipelineSwitchHook

__all__ = ['ChannelsLastHook', 'CPUBF16OptimWrapper', 'cpu_has_native_bf16',
           'DedupExpMomentumEMA', 'LastEpochsPipelineSwitchHook', 'KeypointCountCheckHook']
