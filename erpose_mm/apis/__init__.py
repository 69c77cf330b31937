"""MMPose inferencer model aliases (``pose2d='erpose-n'``), registered on import. The
inference loop shared by ``tools/infer.py`` and ``tools/onnx_infer.py`` is
:mod:`erpose_mm.runtime.inference_loop`."""
from .model_aliases import find_model, model_aliases, register_model_aliases

register_model_aliases()

__all__ = ['find_model', 'model_aliases', 'register_model_aliases']
