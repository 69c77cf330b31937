"""The NMS-free decode's settings, defined once for PyTorch prediction, the ONNX export and
MMDeploy.

Precedence: an MMDeploy deploy config's ``codebase_config.post_processing``
(``score_threshold``, ``keep_top_k``, ``dedupe_threshold``) over the model config's
``test_cfg`` (``score_thr``, ``max_per_img``, ``dedupe_thr``) over these defaults. The
score threshold here is the evaluation floor (COCO AP needs low-score candidates); what a
user sees drawn is a separate, higher display threshold of the inference tools.
"""
from typing import Optional, Tuple

# the values live with the torch-free runtime's other constants
from ..runtime.constants import DEFAULT_DEDUPE_THR, DEFAULT_MAX_PER_IMG, DEFAULT_SCORE_THR

__all__ = ['DEFAULT_DEDUPE_THR', 'DEFAULT_MAX_PER_IMG', 'DEFAULT_SCORE_THR', 'decode_settings',
           'dedupe_setting']


def decode_settings(test_cfg: Optional[dict] = None,
                    post_processing: Optional[dict] = None) -> Tuple[float, int]:
    """``(score_thr, max_per_img)`` by the precedence above."""
    test_cfg = dict(test_cfg or {})
    post = dict(post_processing or {})
    score_thr = post.get('score_threshold', test_cfg.get('score_thr', DEFAULT_SCORE_THR))
    max_per_img = post.get('keep_top_k', test_cfg.get('max_per_img', DEFAULT_MAX_PER_IMG))
    return float(score_thr), int(max_per_img)


def dedupe_setting(test_cfg: Optional[dict] = None,
                   post_processing: Optional[dict] = None) -> Optional[float]:
    """``dedupe_thr`` by the precedence above: None (off) or an OKS threshold in (0, 1]."""
    test_cfg = dict(test_cfg or {})
    post = dict(post_processing or {})
    thr = post.get('dedupe_threshold', test_cfg.get('dedupe_thr', DEFAULT_DEDUPE_THR))
    if thr is None:
        return None
    thr = float(thr)
    if not 0.0 < thr <= 1.0:
        raise ValueError(f'dedupe_thr (test_cfg) / dedupe_threshold (post_processing) must '
                         f'be in (0, 1] or None, got {thr}')
    return thr
