"""Does a checkpoint fit the model it is loaded into? One-line verdicts, fine-tuning plans.

MMEngine loads checkpoints non-strictly: missing or mis-shaped tensors only produce a
warning, so a checkpoint of another scale, keypoint count or model runs with random
layers (random predictions, an ONNX with a random head) and every tool reports success.
The functions here compare the tensors a model needs with those a checkpoint holds:

* :func:`check_checkpoint_fits` (inference, evaluation, export): every tensor the model
  uses at inference must be present with its shape. The one-to-many head
  (``head.one2many.*``) is training-only and ignored; so are BN ``num_batches_tracked``
  counters, checkpoint tensors the model does not have (e.g. ``ema_*`` copies) and the
  ``ema_state_dict`` (the EMA weights are the checkpoint's ``state_dict``, see MMEngine's
  ``EMAHook``).
* :func:`plan_finetune_load` (training's ``load_from``): every tensor that fits is loaded;
  the keypoint branch starts fresh when the keypoint count K differs, and so may the
  training-only one-to-many head when the checkpoint lacks it; anything else missing or
  mis-shaped is refused.

Errors name the first few mismatched tensors and the likely cause (another scale n/s/m/l,
inferred from the stem width; another K, from the keypoint output layer; another model).
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch

#: training-only tensors: the one-to-many head (MAH) is dropped for inference and export
TRAINING_ONLY_PREFIXES = ('head.one2many.',)
#: ER-Pose scale by the stem's output channels (64 x widen_factor 0.25 / 0.5 / 0.75 / 1.0)
STEM_WIDTH_TO_SCALE = {16: 'n', 32: 's', 48: 'm', 64: 'l'}
STEM_KEY = 'backbone.stem.conv.weight'
_KPT_OUTPUT = re.compile(r'^head\.one2one\.kpt\.0\.(\d+)\.bias$')
_KPT_BRANCH = re.compile(r'^head\.(one2one|one2many)\.kpt\.\d+\.')
PARTIAL_FLAG = '--allow-partial-checkpoint'


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model; the message is one line."""


@dataclass
class CheckpointFit:
    """How a checkpoint's tensors compare with a model's (names without ``module.``).

    missing: model tensors the checkpoint lacks. mismatched: (name, checkpoint shape,
    model shape). unused: checkpoint tensors the model has no place for.
    """
    missing: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    unused: List[str] = field(default_factory=list)
    cause: str = ''

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def problems(self, limit: int = 4) -> str:
        """The first ``limit`` problems, e.g. ``x.weight (checkpoint (16,3,3,3) vs model
        (32,3,3,3)), y.bias (missing)``."""
        items = [f'{k} (checkpoint {_shape(a)} vs model {_shape(b)})'
                 for k, a, b in self.mismatched]
        items += [f'{k} (missing)' for k in self.missing]
        more = len(items) - limit
        return ', '.join(items[:limit]) + (f' and {more} more' if more > 0 else '')


def _shape(s) -> str:
    return str(tuple(int(d) for d in s)).replace(' ', '')  # (42,) / (51,51,1,1)


def state_dict_of(checkpoint) -> Dict[str, torch.Tensor]:
    """The model tensors of a loaded checkpoint (MMEngine dict or a bare state dict),
    with DDP's ``module.`` prefix stripped."""
    sd = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(sd, Mapping):
        raise CheckpointMismatchError('holds no state dict (not a model checkpoint)')
    out = {}
    for k, v in sd.items():
        if hasattr(v, 'shape'):
            out[k[len('module.'):] if k.startswith('module.') else k] = v
    return out


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    """Read ``path`` on the CPU and return :func:`state_dict_of` it; one-line
    :class:`CheckpointMismatchError` naming the file when it is not a checkpoint."""
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    except FileNotFoundError:
        raise CheckpointMismatchError(f'{path}: checkpoint not found') from None
    except Exception as e:  # not a torch file, truncated, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointMismatchError(f'{path}: cannot be read as a PyTorch checkpoint '
                                      f'({msg})') from None
    try:
        return state_dict_of(ckpt)
    except CheckpointMismatchError as e:
        raise CheckpointMismatchError(f'{path}: {e}') from None


def _is_ignored_for_inference(key: str) -> bool:
    return key.startswith(TRAINING_ONLY_PREFIXES) or key.endswith('num_batches_tracked')


def num_keypoints_of(sd: Mapping[str, torch.Tensor]) -> Optional[int]:
    """K of an ER-Pose state dict, from the first level's keypoint output layer (3K
    channels: 2K offsets + K visibility logits); None when there is none."""
    best = None
    for k, v in sd.items():
        m = _KPT_OUTPUT.match(k)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), v)
    if best is None or best[1].shape[0] % 3:
        return None
    return int(best[1].shape[0]) // 3


def scale_of(sd: Mapping[str, torch.Tensor]) -> Optional[str]:
    """'n'/'s'/'m'/'l' (or 'width W') from the stem width; None without a stem."""
    if STEM_KEY not in sd:
        return None
    w = int(sd[STEM_KEY].shape[0])
    return STEM_WIDTH_TO_SCALE.get(w, f'width {w}')


def likely_cause(model_sd: Mapping[str, torch.Tensor], ckpt_sd: Mapping[str, torch.Tensor],
                 fit: CheckpointFit) -> str:
    """A short guess why ``ckpt_sd`` does not fit ``model_sd``."""
    if not set(model_sd) & set(ckpt_sd):
        return 'another model (no tensor name in common)'
    causes = []
    ms, cs = scale_of(model_sd), scale_of(ckpt_sd)
    if ms and cs and ms != cs:
        causes.append(f'another scale (checkpoint ER-Pose-{cs}, config ER-Pose-{ms}; '
                      'from the stem width)')
    mk, ck = num_keypoints_of(model_sd), num_keypoints_of(ckpt_sd)
    if mk and ck and mk != ck:
        causes.append(f'another keypoint count (checkpoint K={ck}, config K={mk})')
    if fit.missing:
        parts = {k.split('.')[0] for k in fit.missing}
        have = {k.split('.')[0] for k in ckpt_sd}
        absent = sorted(p for p in parts if p not in have)
        if absent:
            causes.append(f'the checkpoint has no {"/".join(absent)} tensors '
                          '(a backbone-only or partial checkpoint?)')
    if not causes:
        causes.append('another model or model variant (head levels, widths or branches '
                      'differ)')
    return '; '.join(causes)


def compare_state_dicts(model_sd: Mapping[str, torch.Tensor],
                        ckpt_sd: Mapping[str, torch.Tensor],
                        inference_only: bool = True) -> CheckpointFit:
    """Compare tensor names and shapes. ``inference_only`` skips training-only tensors
    (the one-to-many head) and BN batch counters of the model."""
    fit = CheckpointFit()
    for k, v in model_sd.items():
        if inference_only and _is_ignored_for_inference(k):
            continue
        if k not in ckpt_sd:
            if not k.endswith('num_batches_tracked'):
                fit.missing.append(k)
        elif tuple(ckpt_sd[k].shape) != tuple(v.shape):
            fit.mismatched.append((k, tuple(ckpt_sd[k].shape), tuple(v.shape)))
    fit.unused = [k for k in ckpt_sd if k not in model_sd]
    if not fit.ok:
        fit.cause = likely_cause(model_sd, ckpt_sd, fit)
    return fit


def mismatch_message(checkpoint: str, cfg_name: str, fit: CheckpointFit,
                     flag: Optional[str] = PARTIAL_FLAG) -> str:
    """The one-line refusal for a checkpoint that does not fit."""
    n = len(fit.missing) + len(fit.mismatched)
    msg = (f'{checkpoint} does not fit {cfg_name}: {fit.cause}; {n} tensors missing or '
           f'mis-shaped: {fit.problems()}')
    if flag:
        msg += f' ({flag} loads only the tensors that fit)'
    return msg


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: str,
                          cfg_name: str = 'the config', allow_partial: bool = False,
                          flag: Optional[str] = PARTIAL_FLAG,
                          state_dict: Optional[Mapping[str, torch.Tensor]] = None
                          ) -> CheckpointFit:
    """Refuse a checkpoint whose inference tensors do not fit ``model``.

    Args:
        model: the built model (any wrapper's ``.module`` is used).
        checkpoint: path of the checkpoint (read unless ``state_dict`` is given).
        cfg_name: what the model was built from, for the message.
        allow_partial: warn (one line) instead of raising; the caller then loads the
            tensors that fit, as MMEngine does.
        flag: the command-line flag that allows partial loading, named in the message.
        state_dict: the checkpoint's tensors, when already loaded.

    Returns:
        The comparison. Raises :class:`CheckpointMismatchError` (one line) when
        inference tensors are missing or mis-shaped and ``allow_partial`` is False.
    """
    model = getattr(model, 'module', model)
    sd = state_dict if state_dict is not None else load_state_dict_file(checkpoint)
    fit = compare_state_dicts(model.state_dict(), sd, inference_only=True)
    if not fit.ok:
        msg = mismatch_message(checkpoint, cfg_name, fit, flag=None if allow_partial else flag)
        if not allow_partial:
            raise CheckpointMismatchError(msg)
        from mmengine.logging import print_log
        print_log(f'warning: loading only the tensors that fit: {msg}', logger='current',
                  level=30)
    return fit


def exit_if_checkpoint_unfit(model: torch.nn.Module, checkpoint: str,
                             cfg_name: str = 'the config', allow_partial: bool = False,
                             flag: Optional[str] = PARTIAL_FLAG) -> None:
    """:func:`check_checkpoint_fits` for command-line tools: a refusal instead of raising,
    ``error: <one line>`` on stderr and exit status 2 (as every tool's refusal,
    ``erpose_mm.engine.tool_run.REFUSAL_STATUS``)."""
    import sys
    try:
        check_checkpoint_fits(model, checkpoint, cfg_name, allow_partial, flag)
    except CheckpointMismatchError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)


@dataclass
class FinetunePlan:
    """What :func:`plan_finetune_load` decided.

    state_dict: exactly the model's keys; checkpoint tensors where they fit, the
    model's own (freshly initialised) tensors elsewhere. fresh: model tensors that start
    fresh. loaded: number of tensors taken from the checkpoint. unused: checkpoint tensors
    not loaded (no place in the model). ckpt_k / model_k: keypoint counts.
    """
    state_dict: Dict[str, torch.Tensor]
    fresh: List[str]
    loaded: int
    unused: List[str]
    ckpt_k: Optional[int]
    model_k: Optional[int]

    def log_line(self, checkpoint: str, prior_note: str = '') -> str:
        """ONE line saying what was loaded and which layers started fresh."""
        line = f'load_from {checkpoint}: loaded {self.loaded} of {len(self.state_dict)} tensors'
        if self.fresh:
            why = (f'keypoint count {self.ckpt_k} -> {self.model_k}'
                   if self.ckpt_k and self.model_k and self.ckpt_k != self.model_k else
                   'not in the checkpoint or another shape')
            k_differs = bool(self.ckpt_k and self.model_k and self.ckpt_k != self.model_k)
            modules = sorted({_KPT_BRANCH.match(k).group(0).rstrip('.').rsplit('.', 1)[0]
                              if k_differs and _KPT_BRANCH.match(k) else k.rsplit('.', 1)[0]
                              for k in self.fresh})
            line += (f'; started fresh ({why}{"; " + prior_note if prior_note else ""}): '
                     + ', '.join(modules[:8]) + (f' and {len(modules) - 8} more'
                                                 if len(modules) > 8 else ''))
        if self.unused:
            line += f'; {len(self.unused)} checkpoint tensors unused (e.g. {self.unused[0]})'
        return line


def plan_finetune_load(model_sd: Mapping[str, torch.Tensor],
                       ckpt_sd: Mapping[str, torch.Tensor], checkpoint: str,
                       cfg_name: str = 'the config', allow_partial: bool = False
                       ) -> FinetunePlan:
    """Fine-tuning rules for training's ``load_from``.

    Every checkpoint tensor that fits is loaded. These start fresh (keep the model's
    initialisation, e.g. the head's keypoint prior): keypoint-branch tensors whose shape
    differs when K differs (the 3K-channel output layers, and the hidden layers, whose
    width ``max(C // 4, 3K)`` follows K), and
    training-only one-to-many head tensors the checkpoint lacks. Anything else missing
    or mis-shaped (another scale, another model) raises a one-line
    :class:`CheckpointMismatchError`, unless ``allow_partial``.
    """
    model_k, ckpt_k = num_keypoints_of(model_sd), num_keypoints_of(ckpt_sd)
    k_differs = bool(model_k and ckpt_k and model_k != ckpt_k)
    fit = compare_state_dicts(model_sd, ckpt_sd, inference_only=False)
    fresh, refused = [], CheckpointFit(unused=fit.unused)
    for k, ckpt_shape, model_shape in fit.mismatched:
        # the whole keypoint branch follows K: its output layer has 3K channels and its
        # hidden width is max(C // 4, 3K)
        k_dependent = bool(k_differs and _KPT_BRANCH.match(k))
        if k_dependent:
            fresh.append(k)
        else:
            refused.mismatched.append((k, ckpt_shape, model_shape))
    for k in fit.missing:
        (fresh if k.startswith(TRAINING_ONLY_PREFIXES) else refused.missing).append(k)
    if k_differs:  # the whole branch restarts, its same-shaped BN counters included
        fresh += [k for k in model_sd if _KPT_BRANCH.match(k) and k not in fresh]
    if not refused.ok:
        refused.cause = likely_cause(model_sd, ckpt_sd, refused)
        if not allow_partial:
            raise CheckpointMismatchError(mismatch_message(checkpoint, cfg_name, refused))
        fresh += [k for k, _, _ in refused.mismatched] + refused.missing
    fresh_set = set(fresh)
    merged = {k: (v if k in fresh_set or k not in ckpt_sd else ckpt_sd[k].to(v.dtype))
              for k, v in model_sd.items()}
    # BN batch counters the checkpoint lacks keep the model's value; not "fresh" layers
    loaded = sum(1 for k in model_sd if k in ckpt_sd and k not in fresh_set)
    return FinetunePlan(state_dict=merged, fresh=[k for k in model_sd if k in fresh_set],
                        loaded=loaded, unused=fit.unused, ckpt_k=ckpt_k, model_k=model_k)
