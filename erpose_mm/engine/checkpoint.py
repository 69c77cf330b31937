"""Checkpoint/config compatibility check (implemented in :mod:`erpose_mm.utils.checkpoint_fit`)."""
from ..utils.checkpoint_fit import CheckpointMismatchError, check_checkpoint_fits

__all__ = ['CheckpointMismatchError', 'check_checkpoint_fits']
