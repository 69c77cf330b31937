from .hooks import LastEpochsPipelineSwitchHook

__all__ = ['LastEpochsPipelineSwitchHook']
