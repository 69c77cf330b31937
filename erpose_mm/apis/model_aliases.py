"""ER-Pose model names for MMPose's inferencer: ``MMPoseInferencer(pose2d='erpose-n',
pose2d_weights=CKPT)`` after ``import erpose_mm``.

MMEngine's ``BaseInferencer._load_model_from_metafile`` resolves a model name or alias
only from the metafile index of the scope's package (``mmpose``'s ``model-index.yml``),
so ``'erpose-n'`` fails there with ``Cannot find model: erpose-n in mmpose``.
:func:`register_model_aliases` (run by ``import erpose_mm``) wraps it: a name that MMPose
does not know is looked up in erpose-mm's own index (``model-index.yml`` at the
repository root -> ``configs/erpose/metafile.yml``), whose ``Config`` paths are relative
to the repository root. erpose-mm publishes no trained weights, so a model found there
needs ``pose2d_weights``; without it the inferencer stops with a one-line error instead
of MMEngine's silent random initialisation.
"""
import functools
import os.path as osp
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')


@functools.lru_cache(maxsize=1)
def erpose_models() -> List[Dict]:
    """The ``Models`` entries of erpose-mm's metafiles ([] when the index is absent, e.g.
    a wheel installed without the repository's configs)."""
    if not osp.isfile(MODEL_INDEX):
        return []
    from mmengine.fileio import load
    out = []
    for rel in load(MODEL_INDEX).get('Import', []):
        out += load(osp.join(REPO_ROOT, rel)).get('Models', [])
    return out


def find_model(name: str) -> Optional[Dict]:
    """The metafile entry whose ``Name`` or ``Alias`` is ``name`` (case-insensitive)."""
    key = name.lower()
    for m in erpose_models():
        aliases = m.get('Alias', [])
        aliases = [aliases] if isinstance(aliases, str) else aliases
        if key == m['Name'].lower() or key in (a.lower() for a in aliases):
            return m
    return None


def model_aliases() -> Dict[str, str]:
    """{alias: model name}, like ``mmpose.apis.inferencers.get_model_aliases``."""
    out = {}
    for m in erpose_models():
        aliases = m.get('Alias', [])
        for a in [aliases] if isinstance(aliases, str) else aliases:
            out[a] = m['Name']
    return out


def register_model_aliases() -> None:
    """Teach MMEngine's ``BaseInferencer`` (hence MMPoseInferencer) erpose-mm's model
    names. Idempotent."""
    from mmengine.config import Config
    from mmengine.infer import BaseInferencer
    if getattr(BaseInferencer, '_erpose_aliases', False):
        return
    orig_load = BaseInferencer._load_model_from_metafile
    orig_init = BaseInferencer.__init__

    @functools.wraps(orig_load)
    def _load_model_from_metafile(self, model: str):
        entry = find_model(model)
        if entry is None:
            return orig_load(self, model)
        weights = entry.get('Weights') or None
        weights = weights[0] if isinstance(weights, list) else weights
        return Config.fromfile(osp.join(REPO_ROOT, entry['Config'])), weights

    @functools.wraps(orig_init)
    def __init__(self, model=None, weights=None, *args, **kwargs):
        if isinstance(model, str) and weights is None and not osp.isfile(model):
            entry = find_model(model)
            if entry is not None and not entry.get('Weights'):
                raise ValueError(
                    f"{model}: erpose-mm publishes no weights for {entry['Name']}; pass your "
                    f"checkpoint: MMPoseInferencer(pose2d='{model}', pose2d_weights='CKPT.pth')")
        orig_init(self, model, weights, *args, **kwargs)

    BaseInferencer._load_model_from_metafile = _load_model_from_metafile
    BaseInferencer.__init__ = __init__
    BaseInferencer._erpose_aliases = True
