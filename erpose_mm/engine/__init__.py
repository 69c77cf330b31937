from .hooks import KeypointCountCheckHook, LastEpochsPipelineSwitchHook

__all__ = ['LastEpochsPipelineSwitchHook', 'KeypointCountCheckHook']
