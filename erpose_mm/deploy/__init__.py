"""Deployment of ER-Pose: ONNX export (plain ``torch.onnx`` and MMDeploy), the MMDeploy
rewriters, and a torch-free ONNX Runtime runner (``onnx_runner``, loadable on its own;
``from erpose_mm.deploy import ERPoseONNX``).

Importing this package (``import erpose_mm`` does) is cheap and never imports MMDeploy:

* the stack adapters it relies on live in :mod:`erpose_mm.compat` (applied on import);
* it makes sure the MMDeploy rewriters of :mod:`.rewriters` are registered whenever
  MMDeploy is used: right away if ``mmdeploy`` is already imported (e.g. ``tools/deploy.py``
  or MMDeploy's own tools, which import ``erpose_mm`` through the model config's
  ``custom_imports``), otherwise by a post-import hook that fires when ``mmdeploy.core``
  is first imported. Without MMDeploy installed nothing happens.
"""
import importlib.abc
import importlib.util
import sys
import warnings

from ..compat import ONNX_EXPORT_KWARGS

__all__ = ['export_onnx', 'register_mmdeploy_rewriters', 'ONNX_EXPORT_KWARGS', 'ERPoseONNX',
           'DeviceError', 'InputError', 'draw_poses', 'read_image']

_REWRITERS = __name__ + '.rewriters'


def register_mmdeploy_rewriters() -> bool:
    """Import :mod:`.rewriters` (needs MMDeploy). Returns False if MMDeploy is missing."""
    if _REWRITERS in sys.modules:
        return True
    if importlib.util.find_spec('mmdeploy') is None:
        return False
    importlib.import_module(_REWRITERS)
    return True


class _MMDeployPostImportHook(importlib.abc.MetaPathFinder):
    """Registers the rewriters right after ``mmdeploy.core`` finishes importing."""

    target = 'mmdeploy.core'

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)  # one shot; also avoids recursion below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module, _exec=exec_module):
            _exec(module)
            try:
                importlib.import_module(_REWRITERS)
            except Exception as e:  # never break the user's mmdeploy import
                warnings.warn(f'erpose_mm: could not register the MMDeploy rewriters ({e!r}); '
                              'call erpose_mm.deploy.register_mmdeploy_rewriters() explicitly')

        spec.loader.exec_module = exec_and_register
        return spec


def _install_mmdeploy_hook() -> None:
    if 'mmdeploy.core' in sys.modules:
        try:
            register_mmdeploy_rewriters()
        except Exception as e:
            warnings.warn(f'erpose_mm: could not register the MMDeploy rewriters ({e!r})')
    elif importlib.util.find_spec('mmdeploy') is not None and \
            not any(isinstance(f, _MMDeployPostImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _MMDeployPostImportHook())


_RUNNER_NAMES = ('ERPoseONNX', 'DeviceError', 'InputError', 'draw_poses', 'read_image')


def __getattr__(name):  # lazy: keep `import erpose_mm` light (onnxruntime is not imported)
    if name == 'export_onnx':
        from .export import export_onnx
        return export_onnx
    if name in _RUNNER_NAMES:  # from erpose_mm.deploy import ERPoseONNX
        from . import onnx_runner
        return getattr(onnx_runner, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')



_install_mmdeploy_hook()
