"""Helpers shared by the tools: does a checkpoint fit the model it is loaded into."""
from .checkpoint_fit import (CheckpointFit, CheckpointMismatchError, FinetunePlan,
                             check_checkpoint_fits, compare_state_dicts,
                             exit_if_checkpoint_unfit, load_state_dict_file,
                             plan_finetune_load)

__all__ = ['CheckpointFit', 'CheckpointMismatchError', 'FinetunePlan',
           'check_checkpoint_fits', 'compare_state_dicts', 'exit_if_checkpoint_unfit',
           'load_state_dict_file', 'plan_finetune_load']
