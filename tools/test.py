"""Evaluate a checkpoint (MMPose's tools/test.py, plus erpose_mm import and CPU DDP).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump results.pkl]
                         [--out-json preds.json] [--show-dir DIR] [--cfg-options k=v ...]
                         [--allow-partial-checkpoint]

A checkpoint whose inference tensors are missing or mis-shaped for CONFIG (another scale,
keypoint count or model; a backbone-only checkpoint) is refused with one line, exit
status 2, before anything is evaluated (``ERPoseRunner``, as in tools/train.py;
``erpose_mm/utils/checkpoint_fit.py``). ``--dump`` (``--out``: the same, MMPose's name)
writes the predictions as a pickle.
"""
import argparse

import erpose_mm  # noqa: F401
from erpose_mm.engine.tool_run import build_runner, refuse, run_or_refuse
from erpose_mm.utils.cli import add_launcher_args, parse_launcher_args, set_work_dir
from mmengine.config import Config


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save evaluation results')
    parser.add_argument('--dump', '--out', dest='dump', type=str,
                        help='dump predictions to a pickle file (--out: MMPose\'s name)')
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
    dump = args.dump
    if dump is not None:
        if not dump.endswith(('.pkl', '.pickle')):
            refuse(f'error: --dump must end with .pkl or .pickle, got {dump!r}')
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
    if args.allow_partial_checkpoint:
        cfg.allow_partial_checkpoint = True
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    run_or_refuse(build_runner(cfg, args.launcher), 'test')


if __name__ == '__main__':
    main()
