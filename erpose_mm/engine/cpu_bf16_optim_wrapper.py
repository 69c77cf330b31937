"""bfloat16 mixed precision for CPU training (MMEngine's AmpOptimWrapper needs a GPU)."""
from contextlib import contextmanager

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmpose.registry import OPTIM_WRAPPERS
from torch import nn


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 / AMX); else it is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` whose forward runs under bf16 autocast on CPU.

    MMEngine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU device, so CPU training has no
    mixed precision through the config; this is the small named workaround. bf16 has fp32's
    range, so no loss scaling is needed: weights, gradients and optimiser states stay fp32,
    only autocast-listed ops (convolutions, matmuls) run in bf16. ``ERPoseHead`` turns
    autocast off for itself (head, assignment and losses in fp32), so in practice the
    backbone and neck run in bf16: ~1.3x faster training steps on a CPU with native bf16
    (docs/results.md). Validation and testing do not use the wrapper and run in fp32.

    On a CPU without native bf16 support (where bf16 is emulated and slower) and on any
    non-CPU device it logs a warning and trains in fp32, so a config using it runs anywhere.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._enabled = None  # decided on the first step, from the model's device

    def _autocast_enabled(self, model: nn.Module) -> bool:
        if self._enabled is None:
            param = next(model.parameters(), None)
            on_cpu = param is None or param.device.type == 'cpu'
            self._enabled = on_cpu and cpu_has_native_bf16()
            if not self._enabled:
                why = ('the model is not on the CPU (use AmpOptimWrapper there)' if not on_cpu
                       else 'this CPU has no native bf16 (AVX512-BF16/AMX)')
                print_log(f'CPUBF16OptimWrapper: {why}; training in fp32', logger='current',
                          level=30)
        return self._enabled

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=self._autocast_enabled(model)):
            yield
