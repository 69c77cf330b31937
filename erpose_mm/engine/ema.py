"""MMPose's ``ExpMomentumEMA`` for models that share a module between two heads."""
import math

import torch
from mmpose.engine.hooks.ema_hook import ExpMomentumEMA
from mmpose.registry import MODELS
from torch import nn


@MODELS.register_module()
class DedupExpMomentumEMA(ExpMomentumEMA):
    """:class:`mmpose.engine.hooks.ExpMomentumEMA` that averages each tensor once per step.

    With ``update_buffers=True`` MMEngine's ``BaseAveragedModel`` averages the entries of
    the model's ``state_dict()``, which lists a tensor shared by two modules under each of
    its names, so such a tensor is averaged twice per step (momentum ~2x). ER-Pose's head
    shares its keypoint branch between SAH and MAH (``share_regression=True``, the default):
    without this class the EMA of the inference-time keypoint branch would follow the
    training weights twice as fast as the rest of the model. Here each tensor is averaged
    once, under its first name; the state dict (and so every checkpoint) is unchanged.

    The update runs as two multi-tensor (``torch._foreach_*``) calls over all averaged
    tensors instead of two kernels per tensor (361 floating-point tensors for ER-Pose-n:
    ~720 kernel launches per training step on a GPU); each element gets the same arithmetic as
    ``ExpMomentumEMA.avg_func`` (``avg * (1 - m) + m * src``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        unique, seen = {}, set()
        for name, tensor in self.avg_parameters.items():
            key = (tensor.data_ptr(), tensor.shape, tensor.dtype)
            if tensor.numel() and key in seen:
                continue
            seen.add(key)
            unique[name] = tensor
        self.avg_parameters = unique

    def update_parameters(self, model: nn.Module) -> None:
        """``BaseAveragedModel.update_parameters`` with the floating-point tensors averaged
        by multi-tensor calls (same results; see the class docstring)."""
        if self.steps == 0 or self.steps % self.interval != 0:
            return super().update_parameters(model)
        # keep_vars: the tensors themselves; read and written under no_grad, so neither
        # side needs a ``.data`` alias per entry (the averaged tensors are the detached
        # ``state_dict()`` entries of the averaged copy)
        src = (model.state_dict(keep_vars=True) if self.update_buffers
               else dict(model.named_parameters()))
        avg, new = [], []
        for k, p_avg in self.avg_parameters.items():
            if p_avg.dtype.is_floating_point:
                s = src[k]
                avg.append(p_avg)
                new.append(s if s.device == p_avg.device else s.to(p_avg.device))
        momentum = (1 - self.momentum) * math.exp(-float(1 + self.steps) / self.gamma) \
            + self.momentum   # ExpMomentumEMA.avg_func's
        with torch.no_grad():
            torch._foreach_mul_(avg, 1 - momentum)
            torch._foreach_add_(avg, new, alpha=momentum)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1
