"""Train a pose model (MMPose's tools/train.py, plus CPU-DDP support and erpose_mm import).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
                                 [--max-bad-images FRACTION] [--allow-partial-checkpoint]

What it adds to MMPose's tool, so that nothing passes silently:

* the training set is checked before training (``erpose_mm/datasets/checks.py``, cached):
  the ER-Pose configs train on ``CheckedCocoDataset`` / ``CheckedCrowdPoseDataset``, and a
  config's plain ``CocoDataset`` / ``CrowdPoseDataset`` is swapped for them. Bad images are skipped (refused above
  ``--max-bad-images``, default 5%), sizes / NaN keypoints / degenerate boxes fixed in
  memory, duplicate image ids and an empty set refused; an image that breaks during
  training is skipped with a warning. ``tools/misc/check_dataset.py CONFIG``: the report.
* ``ERPoseRunner`` (``erpose_mm/engine/runner.py``): ``load_from`` loads what fits, starts
  the keypoint output layers fresh for another keypoint count (one log line) and refuses
  another scale or model; ``--allow-partial-checkpoint`` loads whatever fits. (The
  configs' ``CheckpointFitHook`` refuses the same checkpoints in any Runner.)
* checkpoints are written atomically; ``--resume`` resumes only from a checkpoint that
  holds the training state (optimizer, schedulers, message hub, EMA) and falls back to the
  newest such checkpoint when ``last_checkpoint`` is broken or names a weights-only file;
  ``--resume FILE`` with a weights-only file is refused
  (``erpose_mm/engine/safe_checkpoint.py``, ``ERPoseRunner``).

Refusals are one line, ``error: ...``, on stderr (and in the run's log file), exit
status 2 (``erpose_mm/engine/tool_run.py``, shared with tools/test.py).
"""
import argparse

import erpose_mm  # noqa: F401  (registers modules + applies compat adapters)
from erpose_mm.datasets.checked_dataset import use_checked_datasets
from erpose_mm.datasets.checks import DatasetCheckError, check_fraction
from erpose_mm.engine.safe_checkpoint import is_complete_checkpoint
from erpose_mm.engine.tool_run import build_runner, refuse, run_or_refuse
from erpose_mm.utils.cli import add_launcher_args, parse_launcher_args, set_work_dir
from mmengine.config import Config
from mmengine.logging import print_log


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
            refuse(f'error: {e}')
    cfg = merge_args(Config.fromfile(args.config), args)
    if args.resume not in (None, 'auto') and '://' not in args.resume and \
            not is_complete_checkpoint(args.resume):
        refuse(f'error: --resume {args.resume}: not a complete checkpoint (missing, empty '
               'or truncated); --resume without a path picks the newest complete one')
    # the data check, load_from and --resume refuse with one line, no traceback
    run_or_refuse(build_runner(cfg, args.launcher), 'train')


if __name__ == '__main__':
    main()
