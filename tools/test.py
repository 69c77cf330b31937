"""Evaluate a checkpoint (MMPose's tools/test.py, plus erpose_mm import and CPU DDP).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump results.pkl]
                         [--out-json preds.json] [--show-dir DIR] [--cfg-options k=v ...]
                         [--allow-partial-checkpoint]

A checkpoint whose inference tensors are missing or mis-shaped for CONFIG (another scale,
keypoint count or model; a backbone-only checkpoint) is refused with one line, exit
status 1, before anything is evaluated (``erpose_mm/utils/checkpoint_fit.py``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import erpose_mm  # noqa: E402,F401
from erpose_mm import compat  # noqa: E402
from erpose_mm.utils.checkpoint_fit import exit_if_checkpoint_unfit  # noqa: E402
from erpose_mm.utils.cli import add_launcher_args, parse_launcher_args, set_work_dir  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save evaluation results')
    parser.add_argument('--out', help='(deprecated alias of --dump)')
    parser.add_argument('--dump', type=str, help='dump predictions to a pickle file')
    parser.add_argument('--out-json', type=str,
                        help='write the COCO-format keypoint results (the json CocoMetric '
                        'scores) to this path prefix, e.g. work_dirs/x/preds -> '
                        'preds.keypoints.json')
    parser.add_argument('--show-dir', help='directory where painted images are saved')
    parser.add_argument('--show', action='store_true', help='display prediction results')
    parser.add_argument('--wait-time', type=float, default=1)
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='evaluate even when tensors are missing or mis-shaped (they '
                        'keep their random initialisation; a warning says which)')
    add_launcher_args(parser)
    return parse_launcher_args(parser)


def merge_args(cfg: Config, args) -> Config:
    set_work_dir(cfg, args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.wait_time = args.wait_time
        cfg.default_hooks.visualization.interval = 1
        if args.show_dir:
            cfg.default_hooks.visualization.out_dir = args.show_dir
        cfg.default_hooks.visualization.show = args.show
    dump = args.dump or args.out
    if dump is not None:
        if not dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must end with .pkl or .pickle, got {dump!r}')
        evaluator = cfg.test_evaluator
        evaluator = evaluator if isinstance(evaluator, list) else [evaluator]
        cfg.test_evaluator = [*evaluator, dict(type='DumpResults', out_file_path=dump)]
    if args.out_json:
        evs = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        for ev in evs:
            if ev.get('type') == 'CocoMetric':
                ev['outfile_prefix'] = args.out_json
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    if compat.init_cpu_distributed(args.launcher):
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
        cfg.model_wrapper_cfg = compat.cpu_ddp_wrapper_cfg()
    runner = Runner.from_cfg(cfg)
    exit_if_checkpoint_unfit(runner.model, args.checkpoint, args.config,
                             allow_partial=args.allow_partial_checkpoint)
    runner.test()


if __name__ == '__main__':
    main()
