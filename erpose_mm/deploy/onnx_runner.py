"""``erpose_mm.deploy.onnx_runner.ERPoseONNX`` and the runner's other public names, where
users import them: the runner is :mod:`erpose_mm.runtime.onnx_runner`."""
from ..runtime.drawing import draw_poses, track_color
from ..runtime.image_io import InputError, read_image, to_bgr8
from ..runtime.onnx_runner import (DeviceError, ERPoseONNX, OpenVINOSession, dedupe_rows,
                                   resolve_backend, resolve_providers)

__all__ = ['ERPoseONNX', 'OpenVINOSession', 'DeviceError', 'InputError', 'dedupe_rows',
           'draw_poses', 'track_color', 'read_image', 'to_bgr8', 'resolve_backend',
           'resolve_providers']
