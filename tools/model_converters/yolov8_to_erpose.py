#!/usr/bin/env python
"""Convert a YOLOv8 checkpoint (Ultralytics detection / pose, MMYOLO) for an ER-Pose config.

    python tools/model_converters/yolov8_to_erpose.py SRC CONFIG OUT [--cfg-options k=v ...]

SRC: an Ultralytics ``yolov8{n,s,m,l}.pt`` / ``yolov8{n,s,m,l}-pose.pt`` (read without
ultralytics installed), an MMYOLO YOLOv8 checkpoint, or a state dict of either. CONFIG:
the ER-Pose config to train (its scale must be the source's). OUT: the ER-Pose
checkpoint for ``load_from`` (never overwritten).

The backbone and neck always map; a pose source's keypoint branch maps where widths, K
and decoding fit (``erpose_mm/models/converters/yolov8.py``). Every other tensor of OUT
is the model's own initialisation (``model.init_weights()`` with ``--seed``), so
``load_from`` finds a complete checkpoint; OUT's ``meta['yolov8_conversion']`` lists
what was mapped and what was left at init. Prints the same. Refusals (not a YOLOv8,
another scale, a missing file, an OUT that exists, ...) are one line on stderr,
``error: FILE: problem``, exit status 2.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction  # noqa: E402

#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def refuse(line: str):
    """Print ``line`` (one line, ``error: ...``) on stderr and exit with status 2."""
    print(line, file=sys.stderr)
    sys.exit(REFUSAL_STATUS)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Convert a YOLOv8 checkpoint for an ER-Pose config')
    p.add_argument('src', help='Ultralytics .pt, MMYOLO .pth or a state dict of either')
    p.add_argument('config', help='the ER-Pose config the checkpoint is for')
    p.add_argument('out', help='output checkpoint (.pth), must not exist')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the initialisation of the layers that are not mapped')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value (as tools/train.py)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if osp.exists(args.out):
        refuse(f'error: {args.out} exists; not overwriting it')
    if not osp.isfile(args.src):
        refuse(f'error: {args.src}: no such file')
    if not osp.isfile(args.config):
        refuse(f'error: {args.config}: no such config file')
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import erpose_mm  # noqa: F401  (registers the model parts)
    from erpose_mm.models.converters import (ConversionError, convert_to_erpose,
                                             load_yolov8_source, read_checkpoint)
    from mmpose.registry import MODELS

    try:
        source = load_yolov8_source(read_checkpoint(args.src))
    except ValueError as e:  # ConversionError and unreadable files
        refuse(f'error: {e}' if args.src in str(e) else f'error: {args.src}: {e}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    # MMEngine logs every tensor's initialisation at INFO: keep this tool's output short
    from mmengine.logging import MMLogger
    MMLogger.get_instance('yolov8_to_erpose', log_level='WARNING')
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    try:
        conv = convert_to_erpose(source, model, osp.basename(args.config))
    except ConversionError as e:
        refuse(f'error: {args.src}: {e}')
    report = dict(source=osp.abspath(args.src), source_model=source.name,
                  config=args.config, seed=args.seed, mapped=conv.mapped,
                  left_at_init=conv.left_at_init, left_at_init_keys=conv.left_at_init_keys,
                  unused=conv.unused)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    torch.save(dict(state_dict=conv.state_dict, meta=dict(yolov8_conversion=report)), tmp)
    os.replace(tmp, args.out)
    print(f'{source.name} -> {args.config}: {args.out}')
    print('mapped:')
    for line in conv.mapped:
        print(f'  {line}')
    print(f'left at ER-Pose\'s initialisation (seed {args.seed}):')
    for line in conv.left_at_init:
        print(f'  {line}')
    print('not used from the source:')
    for line in conv.unused:
        print(f'  {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
