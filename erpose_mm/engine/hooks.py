"""Training hooks."""
from typing import Sequence, Union

from mmdet.engine.hooks import PipelineSwitchHook
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
