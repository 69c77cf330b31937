"""Training hooks."""
import warnings
from typing import Sequence, Union

import torch
from mmdet.engine.hooks import PipelineSwitchHook
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class LastEpochsPipelineSwitchHook(PipelineSwitchHook):
    """Switch to ``switch_pipeline`` for the last ``num_last_epochs`` epochs (no Mosaic).

    MMDetection's ``PipelineSwitchHook`` takes an absolute epoch and switches correctly
    after a resume; MMPose's ``YOLOXPoseModeSwitchHook`` is relative to ``max_epochs`` but
    only switches at exactly that epoch, so a run resumed later never switches. This keeps
    mmdet's resume-safe logic and derives ``switch_epoch`` from the runner's
    ``max_epochs``, so ``--cfg-options train_cfg.max_epochs=...`` moves the switch too.

    Args:
        num_last_epochs: epochs at the end trained with ``switch_pipeline``.
        switch_pipeline: the pipeline, or the name of a config variable holding it
            (default ``'train_pipeline_stage2'``), so dataset configs own their pipelines.
    """

    def __init__(self, num_last_epochs: int,
                 switch_pipeline: Union[str, Sequence[dict]] = 'train_pipeline_stage2') -> None:
        super().__init__(switch_epoch=0, switch_pipeline=switch_pipeline)
        self.num_last_epochs = num_last_epochs

    def before_train_epoch(self, runner) -> None:
        if isinstance(self.switch_pipeline, str):
            name = self.switch_pipeline
            if name not in runner.cfg:
                raise KeyError(f'LastEpochsPipelineSwitchHook: the config has no '
                               f'`{name}` pipeline to switch to')
            self.switch_pipeline = runner.cfg[name]
        self.switch_epoch = max(runner.max_epochs - self.num_last_epochs, 0)
        super().before_train_epoch(runner)


@HOOKS.register_module()
class KeypointCountCheckHook(Hook):
    """Refuse to train / evaluate when a dataset's keypoint count differs from the model's.

    Without it a mismatch surfaces deep inside the loss or pycocotools as a shape error.
    Checks the dataset's metainfo and the first annotated image of each dataloader.
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, loader, stage: str) -> None:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        expected = getattr(head, 'num_keypoints', None)
        if expected is None or loader is None:
            return
        dataset = loader.dataset
        meta_k = dataset.metainfo.get('num_keypoints')
        ann_k = None
        for i in range(min(len(dataset), 50)):
            info = dataset.get_data_info(i)
            kpts = info.get('keypoints')
            if kpts is not None and len(kpts):
                ann_k = int(kpts.shape[-2])
                break
        name = getattr(dataset, 'ann_file', type(dataset).__name__)
        for what, k in (('dataset metainfo', meta_k), ('annotations', ann_k)):
            if k is not None and k != expected:
                raise ValueError(
                    f'{stage} data {name}: the {what} define {k} keypoints per person but the '
                    f'model head predicts num_keypoints={expected}: set model.head.num_keypoints, '
                    f'model.head.metainfo and the datasets\' metainfo ({stage}_dataloader.'
                    f'dataset.metainfo) to one keypoint set (e.g. the *_crowdpose-* configs for '
                    f'14-keypoint CrowdPose; docs/custom_keypoints.md)')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Store the model's 4-D weights in ``torch.channels_last`` (NHWC) memory format.

    On CPU, PyTorch's oneDNN convolutions run NHWC natively: a convolution whose weight is
    channels_last returns a channels_last output, so converting the model once is enough
    (inputs need no conversion). On the 2-core machine this makes an ER-Pose-n training
    step at 256 px ~1.3x faster (docs/results.md). Runs before the EMA hook copies the model
    and converts in place (``param.data``), so the optimiser built earlier keeps its
    references. State dicts are unaffected in content: checkpoints load into either format.

    Under DistributedDataParallel the weights must be converted before the model is
    wrapped: DDP lays out its gradient buckets by the parameters' strides when it is
    built, and parameters converted afterwards no longer match them ("grad strides do
    not match bucket view strides", a copy of every gradient per step). :class:`~erpose_mm.engine.ERPoseRunner` (the
    tools' runner) converts the model before wrapping it when ``custom_hooks`` hold this
    hook, which then finds the weights converted and does nothing. With a plain
    ``Runner`` the hook converts the wrapped module here and warns once under DDP.
    """

    priority = 'HIGH'  # before EMAHook (49) deep-copies the model in before_run
    _warned_ddp = False

    def before_run(self, runner) -> None:
        from mmengine.model import is_model_wrapper
        from torch.nn.parallel import DistributedDataParallel
        model = runner.model
        bare = model.module if is_model_wrapper(model) else getattr(model, 'module', model)
        if weights_are_channels_last(bare):
            return
        if isinstance(model, DistributedDataParallel) and not ChannelsLastHook._warned_ddp:
            ChannelsLastHook._warned_ddp = True
            warnings.warn(
                'ChannelsLastHook: the model was wrapped in DistributedDataParallel before '
                'its weights were converted to channels_last; DDP\'s gradient buckets keep '
                'the old strides (grad strides do not match bucket view strides: extra '
                'copies, results unlike an unwrapped run). Use ERPoseRunner '
                '(erpose_mm.engine), which converts before wrapping.', UserWarning)
        bare.to(memory_format=torch.channels_last)


def weights_are_channels_last(model: torch.nn.Module) -> bool:
    """Whether every 4-D parameter of ``model`` is stored channels_last (True if none)."""
    return all(p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters() if p.dim() == 4)


def wants_channels_last(custom_hooks) -> bool:
    """Whether a config's ``custom_hooks`` hold a :class:`ChannelsLastHook`."""
    for hook in custom_hooks or ():
        kind = hook.get('type') if isinstance(hook, dict) else hook
        if isinstance(kind, str):
            if kind.split('.')[-1] == 'ChannelsLastHook':
                return True
        elif isinstance(kind, ChannelsLastHook) or (
                isinstance(kind, type) and issubclass(kind, ChannelsLastHook)):
            return True
    return False


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse a ``load_from`` checkpoint that does not fit the model, in any Runner.

    Before the checkpoint is loaded (``before_run``): in training (no resume) by the
    fine-tuning rules (:func:`~erpose_mm.utils.checkpoint_fit.plan_finetune_load`: another
    keypoint count is fine-tuned, another scale or model refused), in evaluation by
    :func:`~erpose_mm.utils.checkpoint_fit.check_checkpoint_fits` (every inference tensor
    must be there, in its shape). The refusal is a one-line
    :class:`~erpose_mm.utils.checkpoint_fit.CheckpointMismatchError`;
    ``allow_partial_checkpoint = True`` in the config makes it a warning. It is in the
    ER-Pose configs' ``custom_hooks``, so MMPose's own tools/train.py and tools/test.py
    (``Runner.from_cfg``) check as ours do; :class:`~erpose_mm.engine.ERPoseRunner`, which
    also loads by those rules, checks in its ``load_or_resume`` and this hook stands aside.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        from mmengine.model import is_model_wrapper
        from mmengine.runner import BaseLoop

        from ..utils.checkpoint_fit import (check_checkpoint_fits, load_state_dict_file,
                                            plan_finetune_load)
        from .runner import ERPoseRunner
        load_from = getattr(runner, '_load_from', None)
        if (isinstance(runner, ERPoseRunner) or load_from is None or runner._resume
                or runner._has_loaded or '://' in str(load_from)):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        cfg_name = getattr(runner.cfg, 'filename', None) or 'the config'
        allow_partial = bool(runner.cfg.get('allow_partial_checkpoint', False))
        if isinstance(runner._train_loop, BaseLoop):      # Runner.train() builds it first
            plan_finetune_load(model.state_dict(), load_state_dict_file(load_from),
                               load_from, cfg_name, allow_partial=allow_partial)
        else:
            check_checkpoint_fits(model, load_from, cfg_name, allow_partial=allow_partial)
