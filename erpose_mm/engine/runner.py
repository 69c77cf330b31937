"""A Runner whose checkpoint loading refuses what does not fit (fine-tuning rules for load_from)."""
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from ..compat import apply_stack_adapters
from ..utils.checkpoint_fit import (CheckpointMismatchError, check_checkpoint_fits,
                                    plan_finetune_load, state_dict_of)


@RUNNERS.register_module()
class ERPoseRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner` with checked ``load_from``.

    * Training (``train()``) with ``load_from`` and no resume follows fine-tuning rules
      (:func:`erpose_mm.utils.checkpoint_fit.plan_finetune_load`): every tensor that fits
      is loaded; the keypoint output layers start fresh when the keypoint count differs
      (they keep the head's initialisation, i.e. the standing-pose keypoint prior for
      known keypoint names when ``kpt_prior_height`` is set), and so does the
      training-only one-to-many head if the checkpoint lacks it; ONE log line names the
      layers that started fresh. Anything else missing or mis-shaped (another scale,
      another model) stops with a one-line :class:`CheckpointMismatchError`.
    * ``val()`` / ``test()`` with ``load_from`` refuse a checkpoint whose inference
      tensors are missing or mis-shaped
      (:func:`~erpose_mm.utils.checkpoint_fit.check_checkpoint_fits`).
    * ``cfg.allow_partial_checkpoint = True`` (``--allow-partial-checkpoint``) loads what
      fits with a one-line warning instead (MMEngine's behaviour, for experts).

    Why a Runner subclass and not a hook: MMEngine calls ``before_run`` hooks *before*
    ``_init_model_weights()``, so a hook that loaded the weights in ``before_run`` would
    see them overwritten by ``init_weights`` (or would have to initialise the model
    itself, and the fresh layers would not get the Runner's initialisation).
    ``load_or_resume`` runs right after initialisation, where MMEngine itself loads, and
    the fresh layers keep exactly the initialisation a run from scratch gets. Resuming
    (``--resume``) is MMEngine's (with :mod:`erpose_mm.engine.safe_checkpoint`'s
    fallback for a broken ``last_checkpoint``).

    Building one applies :func:`erpose_mm.compat.apply_stack_adapters` (checkpoint
    loading on torch >= 2.6, atomic checkpoint writes, the resume fallback), which every
    run through it needs.
    """

    _erpose_training = False

    def __init__(self, *args, **kwargs) -> None:
        apply_stack_adapters()
        self._erpose_custom_hooks = kwargs.get('custom_hooks')
        super().__init__(*args, **kwargs)

    def wrap_model(self, model_wrapper_cfg, model):
        """MMEngine's wrapping, after storing the weights channels_last when the config's
        ``custom_hooks`` hold a :class:`~erpose_mm.engine.ChannelsLastHook`: DDP builds
        its gradient buckets by the parameters' strides, so they must be converted before
        it (the hook's ``before_run`` comes after the wrapping)."""
        import torch

        from .hooks import wants_channels_last
        if not is_model_wrapper(model) and wants_channels_last(self._erpose_custom_hooks):
            model.to(memory_format=torch.channels_last)
        return super().wrap_model(model_wrapper_cfg, model)

    def train(self):
        self._erpose_training = True
        try:
            return super().train()
        finally:
            self._erpose_training = False

    def val(self):
        self._check_eval_checkpoint()
        return super().val()

    def test(self):
        self._check_eval_checkpoint()
        return super().test()

    _eval_fit_checked = False

    def _check_eval_checkpoint(self) -> None:
        """Refuse an unfit ``load_from`` before the evaluation's data are built."""
        if self._has_loaded or self._resume or self._load_from is None or \
                '://' in str(self._load_from):
            return
        check_checkpoint_fits(self._bare_model, self._load_from, self._cfg_name(),
                              allow_partial=bool(self.cfg.get('allow_partial_checkpoint',
                                                              False)))
        self._eval_fit_checked = True

    @property
    def _bare_model(self):
        return self.model.module if is_model_wrapper(self.model) else self.model

    def _cfg_name(self) -> str:
        return getattr(self.cfg, 'filename', None) or 'the config'

    def load_or_resume(self) -> None:
        if not self._has_loaded and self._resume:
            return self._resume_full_state()
        if self._has_loaded or self._resume or self._load_from is None:
            return super().load_or_resume()
        allow_partial = bool(self.cfg.get('allow_partial_checkpoint', False))
        if not self._erpose_training:
            if not self._eval_fit_checked:
                check_checkpoint_fits(self._bare_model, self._load_from, self._cfg_name(),
                                      allow_partial=allow_partial)
            return super().load_or_resume()
        self.load_for_finetuning(self._load_from, allow_partial)

    def _resume_full_state(self) -> None:
        """MMEngine's resume, from a checkpoint that holds the whole training state.

        Needed: ``meta`` (epoch, iter), ``message_hub``, ``optimizer``, and
        ``param_schedulers`` / ``ema_state_dict`` when this run has schedulers / an
        ``EMAHook`` (:func:`~erpose_mm.engine.safe_checkpoint.missing_training_state`).
        Auto resume (no path) takes ``last_checkpoint`` or else the newest such
        checkpoint of the work dir; an explicit path that lacks some of it is refused
        with a one-line :class:`ResumeError` (resuming from weights alone would replay
        the LR warm-up and lose the optimizer moments).
        """
        from mmengine.hooks import EMAHook

        from .safe_checkpoint import (ResumeError, _is_local, find_resumable_checkpoint,
                                      missing_training_state)
        need = dict(param_schedulers=self.param_schedulers is not None,
                    ema=any(isinstance(h, EMAHook) for h in self.hooks))
        if self._load_from is None:
            resume_from = find_resumable_checkpoint(self.work_dir, **need)
            if resume_from is None:
                return None
            self.logger.info(f'Auto resumed from the latest checkpoint {resume_from}.')
        else:
            resume_from = self._load_from
            if _is_local(resume_from):
                missing = missing_training_state(resume_from, **need)
                if missing is None:
                    raise ResumeError(f'cannot resume from {resume_from}: not a complete '
                                      'checkpoint (missing, empty or truncated)')
                if missing:
                    raise ResumeError(
                        f'cannot resume from {resume_from}: it lacks the training state '
                        f'({", ".join(missing)}); a weights-only checkpoint (e.g. '
                        'best_*.pth) can start a run as load_from, not resume one')
        self.resume(resume_from)
        self._has_loaded = True

    def load_for_finetuning(self, filename: str, allow_partial: bool = False) -> dict:
        """Load ``filename`` into the (already initialised) model by fine-tuning rules.

        Hooks see a checkpoint whose ``state_dict`` holds exactly the model's tensors
        (the fresh ones from the model), so e.g. ``EMAHook`` copies the same weights.
        Returns the checkpoint.
        """
        try:
            checkpoint = _load_checkpoint(filename, map_location='cpu')
        except FileNotFoundError:
            raise CheckpointMismatchError(f'{filename}: checkpoint not found') from None
        except Exception as e:  # empty, truncated, not a torch file (EOFError, ...)
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointMismatchError(f'{filename}: cannot be read as a PyTorch '
                                          f'checkpoint ({msg})') from None
        try:
            ckpt_sd = state_dict_of(checkpoint)
        except CheckpointMismatchError as e:
            raise CheckpointMismatchError(f'{filename}: {e}') from None
        model = self._bare_model
        plan = plan_finetune_load(model.state_dict(), ckpt_sd, filename, self._cfg_name(),
                                  allow_partial=allow_partial)
        if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
            checkpoint = dict(state_dict=checkpoint)
        checkpoint['state_dict'] = dict(plan.state_dict)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model.load_state_dict(plan.state_dict, strict=True)
        self._has_loaded = True
        self.logger.info(plan.log_line(filename, self._prior_note()))
        return checkpoint

    def _prior_note(self) -> str:
        """How the head initialises the keypoint output layers, for the log line."""
        head = self.cfg.get('model', {}).get('head', {}) or {}
        height = head.get('kpt_prior_height')
        if height is None:
            return 'offsets start at the cell centre'
        try:
            from mmpose.datasets.datasets.utils import parse_pose_metainfo

            from ..models.heads.keypoint_prior import STANDING_POSE
            meta = parse_pose_metainfo(dict(from_file=head.get('metainfo')))
            names = [meta['keypoint_id2name'][i] for i in range(meta['num_keypoints'])]
            known = sum(n in STANDING_POSE for n in names)
            return (f'keypoint prior kpt_prior_height={height} for {known} of '
                    f'{len(names)} keypoints by name')
        except Exception:  # metainfo unreadable here: the head reported it already
            return f'keypoint prior kpt_prior_height={height}'
