"""Deployment of ER-Pose: ONNX export (plain ``torch.onnx`` and MMDeploy), the MMDeploy
rewriters, INT8 / fp16 / OpenVINO conversions. The torch-free runner is
:mod:`erpose_mm.runtime` (``from erpose_mm.deploy import ERPoseONNX`` still works).

Importing this package is cheap and imports neither torch nor MMDeploy. The MMDeploy
rewriters of :mod:`.rewriters` are registered by :func:`register_mmdeploy_rewriters`,
which every MMDeploy entry point of this project calls (``tools/deploy.py``, the MMDeploy
benchmarks, the tests); for MMDeploy's own tools, which import ``erpose_mm`` through the
model config's ``custom_imports`` after ``mmdeploy``, importing this package registers
them when ``mmdeploy.core`` is already imported.
"""
import importlib
import importlib.util
import sys
import warnings

__all__ = ['export_onnx', 'register_mmdeploy_rewriters', 'ONNX_EXPORT_KWARGS', 'ERPoseONNX',
           'DeviceError', 'InputError', 'draw_poses', 'read_image']

_REWRITERS = __name__ + '.rewriters'


def register_mmdeploy_rewriters() -> bool:
    """Import :mod:`.rewriters` (needs MMDeploy): registers ER-Pose's function and symbolic
    rewriters into MMDeploy's registries. Idempotent. Returns False if MMDeploy is
    missing."""
    if _REWRITERS in sys.modules:
        return True
    if importlib.util.find_spec('mmdeploy') is None:
        return False
    importlib.import_module(_REWRITERS)
    return True


_RUNNER_NAMES = ('ERPoseONNX', 'DeviceError', 'InputError', 'draw_poses', 'read_image')


def __getattr__(name):  # lazy: neither torch nor onnxruntime on import
    if name == 'export_onnx':
        from .export import export_onnx
        return export_onnx
    if name == 'ONNX_EXPORT_KWARGS':
        from ..compat import ONNX_EXPORT_KWARGS
        return ONNX_EXPORT_KWARGS
    if name in _RUNNER_NAMES:  # from erpose_mm.deploy import ERPoseONNX
        from .. import runtime
        return getattr(runtime, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


if 'mmdeploy.core' in sys.modules:  # MMDeploy's own tools: register with the config import
    try:
        register_mmdeploy_rewriters()
    except Exception as e:  # never break the user's config import
        warnings.warn(f'erpose_mm: could not register the MMDeploy rewriters ({e!r})')
