"""erpose-mm: ER-Pose (keypoint-driven, NMS-free single-stage pose estimation) for MMPose.

``import erpose_mm`` (or ``custom_imports=dict(imports=['erpose_mm'])`` in a config)
registers every ER-Pose module into the MMPose / MMEngine registries (and the MMPose
inferencer's model names, ``pose2d='erpose-n'``), and does nothing else. The adapters of
the pinned stack (full checkpoint loading on torch >= 2.6, the numpy-2.4 visualizer fix,
atomic checkpoint writes and resume) are applied where they are needed, by
:func:`erpose_mm.compat.apply_stack_adapters`; the MMDeploy rewriters are registered by
:func:`erpose_mm.deploy.register_mmdeploy_rewriters` (and on import where ``mmdeploy``
is already imported).

Nothing is registered where the OpenMMLab stack (torch, mmcv, mmengine, mmpose) cannot be
imported, or with ``ERPOSE_MM_RUNTIME_ONLY=1``: then only the torch-free
:mod:`erpose_mm.runtime` (ONNX runner, inference loop, tracker) is of use, and importing
it loads neither torch nor MMPose.
"""
import importlib.util
import os

__version__ = '0.1.0'

_STACK = ('torch', 'mmcv', 'mmengine', 'mmpose')


def _registers() -> bool:
    """Whether this import registers the MMPose modules (see the module docstring)."""
    if os.environ.get('ERPOSE_MM_RUNTIME_ONLY', '') not in ('', '0'):
        return False
    return all(importlib.util.find_spec(name) is not None for name in _STACK)


if _registers():
    from .compat import stub_torchvision_if_unusable

    # mmpose.models imports torchvision (simcc_vis.py): without a usable one, the
    # registration below could not import MMPose at all
    stub_torchvision_if_unusable()
    from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registration)
    from .datasets import checked_dataset  # noqa: E402,F401  (registers the checked datasets)
    from . import deploy  # noqa: E402,F401  (MMDeploy rewriters if mmdeploy is imported)
    from . import apis  # noqa: E402,F401  (MMPoseInferencer aliases: pose2d='erpose-n')
