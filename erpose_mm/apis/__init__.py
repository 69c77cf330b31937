"""Inference helpers: MMPose inferencer model aliases (``pose2d='erpose-n'``) and the
inference loop shared by ``tools/infer.py`` and ``tools/onnx_infer.py``."""
from .model_aliases import find_model, model_aliases, register_model_aliases

register_model_aliases()

__all__ = ['find_model', 'model_aliases', 'register_model_aliases']
