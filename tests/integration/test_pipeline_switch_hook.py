"""LastEpochsPipelineSwitchHook: the last epochs train with `train_pipeline_stage2`, also in
a run resumed after the switch epoch began (MMPose's mode-switch hook only switches at
exactly that epoch, so a run resumed later would never switch)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from erpose_mm.datasets import generate_synthetic_coco

MAX_EPOCHS = 4
NUM_LAST_EPOCHS = 2      # epochs 3 and 4 (0-based 2 and 3) use the stage-2 pipeline


class _Killed(RuntimeError):
    """Stands for the process dying after a saved epoch."""


class PipelineRecorder(Hook):
    """Records, per training epoch, the random-scale probability of the pipeline's
    BottomupRandomAffine: 1 in stage 1 (random affine), 0 in stage 2 (letterbox only)."""

    priority = 'LOWEST'   # after the switch hook's before_train_epoch

    def __init__(self):
        self.scale_prob = {}

    def before_train_epoch(self, runner):
        transforms = runner.train_dataloader.dataset.pipeline.transforms
        affine = next(t for t in transforms if type(t).__name__ == 'BottomupRandomAffine')
        self.scale_prob[runner.epoch] = affine.scale_prob


class KillAfterEpoch(Hook):
    priority = 'LOWEST'   # after CheckpointHook (VERY_LOW) saved the epoch

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch == self.epoch:
            raise _Killed(f'killed after epoch {self.epoch + 1}')


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('switch_data')
    generate_synthetic_coco(str(root), num_train=4, num_val=0, seed=1, min_size=128,
                            max_size=160, difficulty='easy', empty_frac=0.0, progress=False)
    return str(root) + '/'


def _cfg(repo_root, data_root, work_dir, resume):
    cfg = Config.fromfile(osp.join(repo_root, 'configs/erpose/erpose-n_synthetic-256.py'))
    cfg.merge_from_dict({
        'work_dir': work_dir, 'resume': resume, 'train_cfg.max_epochs': MAX_EPOCHS,
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': data_root,
        'default_hooks.checkpoint.interval': 1, 'default_hooks.checkpoint.save_best': None,
        'default_hooks.logger.interval': 1})
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    switch = [h for h in cfg.custom_hooks if h['type'] == 'LastEpochsPipelineSwitchHook']
    assert len(switch) == 1
    switch[0]['num_last_epochs'] = NUM_LAST_EPOCHS
    return cfg


def _train(cfg, *extra_hooks):
    runner = Runner.from_cfg(cfg)
    recorder = PipelineRecorder()
    for hook in (recorder, *extra_hooks):
        runner.register_hook(hook)
    try:
        runner.train()
    except _Killed:
        pass
    return recorder.scale_prob


def test_switch_survives_a_resume_after_the_switch_epoch(repo_root, tiny_data, tmp_path):
    work = str(tmp_path / 'work')
    # first run: stage 1 for epochs 1-2, stage 2 from epoch 3; dies after saving epoch 3
    first = _train(_cfg(repo_root, tiny_data, work, resume=False), KillAfterEpoch(2))
    assert first == {0: 1.0, 1: 1.0, 2: 0.0}
    assert osp.isfile(osp.join(work, 'epoch_3.pth'))
    assert not osp.exists(osp.join(work, 'epoch_4.pth'))
    # resumed run: starts at epoch 4, past the switch epoch, and trains it with stage 2
    resumed = _train(_cfg(repo_root, tiny_data, work, resume=True))
    assert resumed == {3: 0.0}
    assert osp.isfile(osp.join(work, 'epoch_4.pth'))


def test_switch_follows_max_epochs_and_needs_the_stage2_pipeline(repo_root, tiny_data,
                                                                   tmp_path):
    cfg = _cfg(repo_root, tiny_data, str(tmp_path / 'short'), resume=False)
    cfg.train_cfg.max_epochs = 3        # the switch moves with max_epochs: epoch 2 of 3
    assert _train(cfg) == {0: 1.0, 1: 0.0, 2: 0.0}
    cfg = _cfg(repo_root, tiny_data, str(tmp_path / 'none'), resume=False)
    cfg.pop('train_pipeline_stage2')
    with pytest.raises(KeyError, match='train_pipeline_stage2'):
        _train(cfg)
