"""What tools/train.py and tools/test.py share: MMPose's launcher arguments and work-dir rule."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--launcher`` and the ``--local_rank`` torch.distributed.launch
    passes, as in MMPose's tools."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launcher_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local_rank`` only."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_work_dir(cfg: Config, args: argparse.Namespace) -> None:
    """``--work-dir``, else the config's ``work_dir``, else ``work_dirs/<config name>``;
    also takes the launcher into the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
