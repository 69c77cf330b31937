"""Train a pose model (MMPose's tools/train.py, plus CPU-DDP support and erpose_mm import).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
                                 [--max-bad-images FRACTION] [--allow-partial-checkpoint]

What it adds to MMPose's tool, so that nothing passes silently:

* the training set is checked before training (``erpose_mm/datasets/checks.py``, cached):
  its ``CocoDataset`` / ``CrowdPoseDataset`` becomes ``CheckedCocoDataset`` /
  ``CheckedCrowdPoseDataset`` (no config change). Bad images are skipped (refused above
  ``--max-bad-images``, default 5%), sizes / NaN keypoints / degenerate boxes fixed in
  memory, duplicate image ids and an empty set refused; an image that breaks during
  training is skipped with a warning. ``tools/misc/check_dataset.py CONFIG``: the report.
* ``ERPoseRunner`` (``erpose_mm/engine/runner.py``): ``load_from`` loads what fits, starts
  the keypoint output layers fresh for another keypoint count (one log line) and refuses
  another scale or model; ``--allow-partial-checkpoint`` loads whatever fits.
* checkpoints are written atomically; ``--resume`` resumes only from a checkpoint that
  holds the training state (optimizer, schedulers, message hub, EMA) and falls back to the
  newest such checkpoint when ``last_checkpoint`` is broken or names a weights-only file;
  ``--resume FILE`` with a weights-only file is refused
  (``erpose_mm/engine/safe_checkpoint.py``, ``ERPoseRunner``).

Refusals are one line, ``error: ...``, on stderr (and in the run's log file), exit
status 1.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import erpose_mm  # noqa: E402,F401  (registers modules + applies compat adapters)
from erpose_mm import compat  # noqa: E402
from erpose_mm.datasets.checked_dataset import use_checked_datasets  # noqa: E402
from erpose_mm.datasets.checks import DatasetCheckError, check_fraction  # noqa: E402
from erpose_mm.engine.runner import ERPoseRunner  # noqa: E402
from erpose_mm.engine.safe_checkpoint import ResumeError, is_complete_checkpoint  # noqa: E402
from erpose_mm.utils.checkpoint_fit import CheckpointMismatchError  # noqa: E402
from erpose_mm.utils.cli import add_launcher_args, parse_launcher_args, set_work_dir  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import print_log  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in '
                        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual batch size')
    parser.add_argument('--show-dir', help='directory where visualised val images are saved')
    parser.add_argument('--max-bad-images', type=float, default=None, metavar='FRACTION',
                        help='refuse to train when more than this fraction of the training '
                        'images is missing or unreadable (default 0.05; the dataset '
                        "config's max_bad_image_fraction)")
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='load_from: load every tensor that fits and start the rest '
                        'fresh, instead of refusing a checkpoint of another scale/model')
    add_launcher_args(parser)
    return parse_launcher_args(parser)


def merge_args(cfg: Config, args) -> Config:
    set_work_dir(cfg, args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.save_best = None
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.show_dir:
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.out_dir = args.show_dir
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.allow_partial_checkpoint:
        cfg.allow_partial_checkpoint = True
    # the training-data check (an explicit --max-bad-images wins over the config)
    check_args = {} if args.max_bad_images is None else dict(
        max_bad_image_fraction=args.max_bad_images)
    train_dataset = (cfg.get('train_dataloader') or {}).get('dataset')
    for name in use_checked_datasets(train_dataset, **check_args):
        print_log(f'warning: the training dataset type {name} is not checked before '
                  'training (only CocoDataset / CrowdPoseDataset are)', logger='current',
                  level=30)
    return cfg


def main():
    args = parse_args()
    if args.max_bad_images is not None:
        try:
            check_fraction(args.max_bad_images, '--max-bad-images')
        except DatasetCheckError as e:
            sys.exit(f'error: {e}')
    cfg = merge_args(Config.fromfile(args.config), args)
    if compat.init_cpu_distributed(args.launcher):
        # torchrun without GPUs: gloo process group + CPU DDP (see erpose_mm/compat.py)
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
        cfg.model_wrapper_cfg = compat.cpu_ddp_wrapper_cfg()
        if cfg.get('sync_bn'):
            sys.exit(f"error: sync_bn={cfg.sync_bn!r} needs GPUs (torch's SyncBatchNorm runs "
                     'on CUDA devices only); on CPUs train with per-process BN (no sync_bn)')
    if args.resume not in (None, 'auto') and '://' not in args.resume and \
            not is_complete_checkpoint(args.resume):
        sys.exit(f'error: --resume {args.resume}: not a complete checkpoint (missing, empty '
                 'or truncated); --resume without a path picks the newest complete one')
    runner = ERPoseRunner.from_cfg(cfg)
    try:
        runner.train()
    except (DatasetCheckError, CheckpointMismatchError, ResumeError) as e:
        # refusals of the data check, of load_from and of --resume: one line, no traceback
        refuse(runner, f'error: {e}')


def refuse(runner, line: str) -> None:
    """Print ``line`` on stderr, also write it to the run's log file (not through the
    console handler, which would prefix it), and exit with status 1."""
    import logging
    record = logging.LogRecord(runner.logger.name, logging.ERROR, __file__, 0, line, None,
                               None)
    for handler in runner.logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    print(line, file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
    main()
