"""Small, named adapters for known breakages of the pinned OpenMMLab stack.

Each adapter is active only where its upstream problem exists, says which problem it works
around, and is idempotent. ``import erpose_mm`` applies none of them except
:func:`stub_torchvision_if_unusable`, without which ``mmpose.models`` -- and so the
registration itself -- cannot be imported where torchvision is missing or broken.

The others are applied explicitly, by :func:`apply_stack_adapters`, where they are needed:

* ``erpose_mm.engine.ERPoseRunner`` (``__init__``): training and testing through it;
* ``tools/infer.py``, ``tools/deploy.py`` and :func:`erpose_mm.deploy.export.load_model`:
  loading an MMEngine checkpoint, MMPose's visualizer, MMDeploy's ``visualize_model``;
* ``tests/conftest.py`` (the whole test session) and the benchmarks that build models from
  checkpoints or run an MMEngine ``Runner``.

A script of its own that loads MMEngine checkpoints on torch >= 2.6, draws with MMPose's
visualizer on numpy >= 2.4, or trains with MMEngine's plain ``Runner`` calls
``erpose_mm.compat.apply_stack_adapters()`` after ``import erpose_mm``.
See ``../shared/stack.md`` / ``docs/install.md``.
"""
import importlib
import inspect
import importlib.util
import os
import sys
import types

import torch


def _torch_version() -> tuple:
    return tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])


def stub_torchvision_if_unusable() -> bool:
    """mmpose/visualization/simcc_vis.py imports ``torchvision.transforms.ToPILImage`` at
    module level, so ``import mmpose.visualization`` (and with it the models registry) fails
    when torchvision is missing or broken (PyPI's torchvision does not load beside the torch
    2.13 CPU build: "operator torchvision::nms does not exist").

    Only that one name is used (by SimCC heatmap visualisation, which ER-Pose never uses),
    so when torchvision cannot be imported we register a tiny module that provides it via
    PIL. A working torchvision is always left alone. Returns True if the stub was installed.
    """
    if 'torchvision' in sys.modules:
        return False
    if importlib.util.find_spec('torchvision') is not None:
        try:
            importlib.import_module('torchvision')
            return False
        except Exception:  # broken install: fall through to the stub
            for name in [m for m in sys.modules if m.startswith('torchvision')]:
                del sys.modules[name]

    class ToPILImage:
        """Minimal stand-in for torchvision.transforms.ToPILImage (CHW tensor -> PIL)."""

        def __call__(self, pic):
            from PIL import Image
            arr = pic.detach().cpu().numpy() if isinstance(pic, torch.Tensor) else pic
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
                arr = arr.transpose(1, 2, 0)
            if arr.dtype != 'uint8':
                arr = (arr * 255).clip(0, 255).astype('uint8')
            return Image.fromarray(arr.squeeze())

    tv = types.ModuleType('torchvision')
    tv.__version__ = '0.0.0+erpose_mm.stub'
    tv.__erpose_stub__ = True
    transforms = types.ModuleType('torchvision.transforms')
    transforms.ToPILImage = ToPILImage
    tv.transforms = transforms
    sys.modules['torchvision'] = tv
    sys.modules['torchvision.transforms'] = transforms
    return True


def allow_full_checkpoint_loading() -> bool:
    """torch >= 2.6 defaults ``torch.load(weights_only=True)``; MMEngine checkpoints hold
    a ``meta``/``message_hub`` with numpy and MMEngine objects, so resume and
    ``init_model(cfg, ckpt)`` fail with "Weights only load failed".

    MMEngine's own extension point (``CheckpointLoader.register_scheme``) is used to
    re-register the local-file loader with ``weights_only=False``, i.e. the behaviour those
    checkpoints were written for. Only local files go through it (the user chose to load
    them); http/other schemes are untouched. Inactive on torch < 2.6.
    """
    if _torch_version() < (2, 6):
        return False
    import os.path as osp

    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):  # noqa: D401 - mirrors mmengine
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return torch.load(filename, map_location=map_location, weights_only=False)

    return True


def init_cpu_distributed(launcher: str) -> bool:
    """MMEngine's ``init_dist('pytorch')`` / ``init_dist('slurm')`` call
    ``torch.cuda.set_device`` and fail on a machine without GPUs. When launched by torchrun
    (or srun, ``--launcher slurm``: :func:`set_env_from_slurm`) on CPU, initialise the gloo
    process group ourselves; the Runner then skips its own ``init_dist`` (it only
    initialises when ``not is_distributed()``). Returns True if it initialised the group.
    """
    import torch.distributed as dist
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher == 'slurm' and 'SLURM_PROCID' in os.environ:
        set_env_from_slurm()
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        return False
    dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))
    return True


def set_env_from_slurm() -> None:
    """What MMEngine's ``init_dist('slurm')`` derives from Slurm's variables, without its
    ``torch.cuda.set_device`` (so that :func:`init_cpu_distributed` can run a srun job on
    CPU): RANK = SLURM_PROCID, WORLD_SIZE = SLURM_NTASKS, LOCAL_RANK = SLURM_LOCALID,
    MASTER_ADDR = first host of SLURM_NODELIST (``scontrol show hostname``) and
    MASTER_PORT = 29500, each unless already set."""
    import subprocess
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1').strip()
    os.environ.setdefault('MASTER_PORT', '29500')


def cpu_ddp_wrapper_cfg() -> dict:
    """MMEngine wraps DDP with ``device_ids=[LOCAL_RANK]``, which is invalid for CPU
    modules; CPU DDP needs ``device_ids=None``."""
    return dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)


# --------------------------------------------------------------------------- export / inference
# torch >= 2.9 makes ``torch.onnx.export`` default to the dynamo exporter, which MMDeploy's
# rewriters (and ``dynamic_axes``) are not written for: MMDeploy 1.3.1's ``torch2onnx`` then
# fails with ``KeyError: -1`` hiding a dynamo "mismatch between the structure of inputs and
# dynamic_shapes". ONNX_EXPORT_KWARGS is the ONE place that forces the TorchScript exporter;
# used by erpose_mm.deploy.export.export_onnx and by the torch.onnx.export function rewriter
# in erpose_mm.deploy.rewriters (applied around MMDeploy's own export call).
#
# fix_opencv_visualizer_radius: MMPose's PoseLocalVisualizer passes radius=np.array([r]) to
# OpencvBackendVisualizer.draw_circles, which calls int(radius); numpy >= 2.4 refuses int() of
# a 1-element 1-D array, so every keypoint drawing (inferencer, MMDeploy visualize) crashes.


def _onnx_export_kwargs() -> dict:
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        return dict(dynamo=False)
    return {}


#: extra keyword arguments every ``torch.onnx.export`` call of this package passes
ONNX_EXPORT_KWARGS = _onnx_export_kwargs()


def fix_opencv_visualizer_radius() -> bool:
    """Let ``OpencvBackendVisualizer.draw_circles`` accept a size-1 array radius
    (numpy >= 2.4). Returns True if the patch was installed (idempotent)."""
    import numpy as np
    try:
        int(np.array([1]))
        return False  # numpy still converts size-1 arrays: nothing to fix
    except TypeError:
        pass
    try:
        from mmpose.visualization.opencv_backend_visualizer import OpencvBackendVisualizer
    except Exception:  # mmpose not importable: nothing to patch
        return False
    orig = OpencvBackendVisualizer.draw_circles
    if getattr(orig, '_erpose_radius_fix', False):
        return True

    def draw_circles(self, center, radius, face_colors='none', alpha=1.0, **kwargs):
        if getattr(self, 'backend', 'opencv') == 'opencv':
            r = np.asarray(radius)
            if r.size == 1:
                radius = r.reshape(-1)[0].item()
        return orig(self, center, radius, face_colors=face_colors, alpha=alpha, **kwargs)

    draw_circles._erpose_radius_fix = True
    draw_circles.__doc__ = orig.__doc__
    OpencvBackendVisualizer.draw_circles = draw_circles
    return True


def apply_stack_adapters() -> None:
    """Apply every runtime adapter of the stack (idempotent; each only where its problem
    exists): :func:`stub_torchvision_if_unusable`, :func:`allow_full_checkpoint_loading`
    (torch >= 2.6), :func:`fix_opencv_visualizer_radius` (numpy >= 2.4) and
    :func:`erpose_mm.engine.safe_checkpoint.install` (atomic checkpoint writes, resume
    from the newest complete checkpoint)."""
    stub_torchvision_if_unusable()
    allow_full_checkpoint_loading()
    fix_opencv_visualizer_radius()
    from .engine import safe_checkpoint
    safe_checkpoint.install()
