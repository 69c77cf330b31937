"""Check a config's dataset the way tools/train.py does before training, and print the report.

    python tools/misc/check_dataset.py CONFIG [--split train|val|test] [--max-bad-images 0.05]
                                       [--no-cache] [--cfg-options k=v ...]

Lists every missing / unreadable / empty / corrupt image (skipped in training; a JPEG
that decodes with a libjpeg damage warning counts as corrupt), annotations of another
category than person or with unusable keypoints (skipped), json width/height that differ
from the file (the file's size is used), NaN/Inf keypoints (made unlabelled) and degenerate
person boxes (recomputed from the keypoints). Exit status 2 with one ``error:`` line for
what training refuses (as tools/train.py): duplicate image ids, an image file under two
image ids, no labelled person, more bad images or annotations than ``--max-bad-images`` (a
fraction in [0, 1]), and for bad arguments. The report is cached like training's
(``$ERPOSE_MM_CACHE_DIR``, default ``~/.cache/erpose_mm/dataset_checks``).
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Check the images and annotations of a dataset')
    p.add_argument('config', help='training config (configs/erpose/*.py)')
    p.add_argument('--split', choices=['train', 'val', 'test'], default='train')
    p.add_argument('--max-bad-images', type=float, default=None, metavar='FRACTION',
                   help='fail when more than this fraction of the images is bad (default: '
                   "the dataset config's max_bad_image_fraction, else 0.05)")
    p.add_argument('--no-cache', action='store_true', help='neither read nor write the cache')
    p.add_argument('--cfg-options', nargs='+', default=None, metavar='k=v',
                   help='override settings of the config, key=value')
    return p.parse_args(argv)


def _leaf_datasets(ds_cfg):
    """The dataset configs inside wrappers (``dataset=`` / ``datasets=[...]``)."""
    inner = ds_cfg.get('datasets') or ([ds_cfg['dataset']] if 'dataset' in ds_cfg else None)
    if not inner:
        return [ds_cfg]
    return [leaf for d in inner for leaf in _leaf_datasets(d)]


def main(argv=None) -> int:
    args = parse_args(argv)
    import erpose_mm  # noqa: F401
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    from erpose_mm.datasets.checked_dataset import use_checked_datasets
    from erpose_mm.datasets.checks import (DEFAULT_MAX_BAD_FRACTION, DatasetCheckError,
                                           check_coco_keypoint_dataset, check_fraction)
    if args.max_bad_images is not None:
        try:
            check_fraction(args.max_bad_images, '--max-bad-images')
        except DatasetCheckError as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
    if not osp.isfile(args.config):
        print(f'error: config not found: {args.config}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        opts = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, opts, args.cfg_options)
        cfg.merge_from_dict(opts.o)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader:
        print(f'error: {args.config} has no {args.split}_dataloader', file=sys.stderr)
        return 2
    uncovered = use_checked_datasets(loader.dataset)
    if uncovered:
        print(f'error: {args.config}: dataset type {uncovered[0]} is not a COCO-style '
              'keypoint dataset this tool can check', file=sys.stderr)
        return 2
    status = 0
    for ds_cfg in _leaf_datasets(loader.dataset):
        # the dataset resolves data_root / data_prefix / test_mode; lazy: loads nothing
        dataset = DATASETS.build(dict(ds_cfg, lazy_init=True, pipeline=[]))
        limit = args.max_bad_images
        if limit is None:
            limit = ds_cfg.get('max_bad_image_fraction', DEFAULT_MAX_BAD_FRACTION)
        try:
            report = check_coco_keypoint_dataset(dataset.ann_file, dataset.data_prefix['img'],
                                                 test_mode=dataset.test_mode,
                                                 use_cache=not args.no_cache,
                                                 num_keypoints=dataset.metainfo.get(
                                                     'num_keypoints'))
            print('\n'.join(report.lines(limit=None)))
            report.enforce(limit)
        except DatasetCheckError as e:
            print(f'error: {e}', file=sys.stderr)
            status = 2
    return status


if __name__ == '__main__':
    sys.exit(main())
