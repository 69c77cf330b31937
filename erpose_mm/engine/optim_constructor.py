"""MMEngine's default optimiser constructor with one parameter group per distinct setting.

With a ``paramwise_cfg`` (ours: no weight decay on norms and biases), MMEngine's
``DefaultOptimWrapperConstructor`` gives every parameter its own group: 223 groups for
ER-Pose-n, with two distinct settings among them. PyTorch's optimisers loop over groups in
Python, and their multi-tensor (``foreach``) kernels, the default on a GPU, batch tensors
only within a group, so AdamW launches per-parameter kernels: with MMEngine's constructor the
optimiser step takes 36 ms of ER-Pose-n's 114 ms training step at batch 32 on an H200, against
8 ms for YOLOv8n-pose's three groups (``benchmarks/results/train_speed_gpu.md``). Merging groups of equal settings leaves every
parameter's update unchanged (each update reads only its own group's hyper-parameters) and
cuts the groups to two.

Checkpoints written with one group per parameter still resume: a load-state-dict pre-hook
maps their groups and per-parameter state onto the merged groups.
"""
import types
from typing import Dict, List, Tuple

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmpose.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn


def _setting(group: dict) -> Tuple:
    """Hashable key of a group's hyper-parameters (everything but its parameters)."""
    return tuple(sorted((k, repr(v)) for k, v in group.items() if k != 'params'))


def merge_param_groups(groups: List[dict]) -> Tuple[List[dict], List[int]]:
    """Groups of equal settings merged, in order of first appearance, parameters in their
    original order; and for each original group, the index of the merged group it joined."""
    merged: Dict[Tuple, dict] = {}
    joined = []
    for g in groups:
        key = _setting(g)
        if key not in merged:
            merged[key] = dict({k: v for k, v in g.items() if k != 'params'}, params=[])
        merged[key]['params'].extend(g['params'])
        joined.append(list(merged).index(key))
    return list(merged.values()), joined


def remap_state_dict(state_dict: dict, joined: List[int], sizes: List[int]) -> dict:
    """An optimiser state dict of the original groups -> the merged layout (``joined``,
    ``sizes``: the merged groups' parameter counts). PyTorch numbers parameters 0..N-1
    through the groups in order, so an original flat index moves to its merged position."""
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    filled = [0] * len(sizes)
    new_index, groups = {}, [None] * len(sizes)
    for g, gi in zip(state_dict['param_groups'], joined):
        for old in g['params']:
            new_index[old] = offsets[gi] + filled[gi]
            filled[gi] += 1
        if groups[gi] is None:   # the merged group keeps its first member's settings
            groups[gi] = dict({k: v for k, v in g.items() if k != 'params'},
                              params=list(range(offsets[gi], offsets[gi] + sizes[gi])))
    state = {new_index[k]: v for k, v in state_dict['state'].items()}
    return dict(state_dict, state=state, param_groups=groups)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (same config keys, same per-parameter settings),
    then the parameter groups merged by setting (module docstring)."""

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        opt = optim_wrapper.optimizer
        original = [dict(g) for g in opt.param_groups]
        merged, joined = merge_param_groups(original)
        opt.param_groups.clear()
        for g in merged:
            opt.add_param_group(g)
        sizes = [len(g['params']) for g in merged]
        original_counts = [len(g['params']) for g in original]

        def original_layout_pre_hook(optimizer, state_dict):
            """Checkpoints written before groups were merged resume: their layout is mapped
            onto the merged groups; any other layout is left to PyTorch's own checks."""
            counts = [len(g['params']) for g in state_dict['param_groups']]
            if counts != original_counts or counts == sizes:
                return state_dict
            return remap_state_dict(state_dict, joined, sizes)

        opt.register_load_state_dict_pre_hook(original_layout_pre_hook)
        # Gradient clipping sums the parameters' norms in the order it is given them; MMEngine
        # gives them group by group. Keep the original order, so that the clipped gradients,
        # and with them every update, stay bit-identical to one group per parameter.
        order = [p for g in original for p in g['params']]
        optim_wrapper._clip_grad = types.MethodType(_clip_grad_in_order(order), optim_wrapper)
        return optim_wrapper


def _clip_grad_in_order(order: List[nn.Parameter]):
    """``OptimWrapper._clip_grad`` over ``order`` instead of the groups' order."""
    def _clip_grad(self) -> None:
        params = [p for p in order if p.requires_grad and p.grad is not None]
        if params:
            grad = self.clip_func(params, **self.clip_grad_kwargs)
            if grad is not None:   # clip_grad_value_ returns None
                self.message_hub.update_scalar(f'train/{self.grad_name}', float(grad))
    return _clip_grad


__all__ = ['GroupedOptimWrapperConstructor', 'merge_param_groups', 'remap_state_dict']
