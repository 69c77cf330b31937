"""Print inference parameters and FLOPs of ER-Pose configs (SAH only, as deployed).

    python tools/analysis/get_flops.py configs/erpose/erpose-n_coco-640.py [more configs]
                                       [--shape 640 640] [--markdown]

Parameters are counted after ``head.switch_to_deploy()`` removes the one-to-many head
(BN not folded, as the paper and Ultralytics count). FLOPs use MMEngine's analyser
(one multiply-add = 1 FLOP, the convention of YOLO model cards' "GFLOPs" / 2).
"""
import argparse
import os.path as osp

import torch

import erpose_mm  # noqa: F401
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

PAPER = {'erpose-n': 2.53, 'erpose-s': 9.69, 'erpose-m': 23.36, 'erpose-l': 39.95}


class _Infer(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head.forward(self.model.extract_feat(x))


def measure(config: str, shape=(640, 640)) -> dict:
    init_default_scope('mmpose')
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model).eval()
    total_train = sum(p.numel() for p in model.parameters())
    model.head.switch_to_deploy()
    params = sum(p.numel() for p in model.parameters())
    x = torch.zeros(1, 3, *shape)
    flops = FlopAnalyzer(_Infer(model), (x,))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    name = osp.basename(config).split('_')[0]
    return dict(config=osp.basename(config), params=params, train_params=total_train,
                gmacs=flops.total() / 1e9, paper=PAPER.get(name))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--shape', type=int, nargs=2, default=[640, 640], metavar=('H', 'W'))
    parser.add_argument('--markdown', action='store_true', help='print a markdown table')
    args = parser.parse_args()
    rows = [measure(c, tuple(args.shape)) for c in args.configs]
    if args.markdown:
        print(f'| config | inference params (M) | paper (M) | diff | train params (M) | '
              f'GMACs @{args.shape[0]}x{args.shape[1]} |')
        print('|---|---|---|---|---|---|')
    for r in rows:
        diff = f"{100 * (r['params'] / 1e6 / r['paper'] - 1):+.1f}%" if r['paper'] else '-'
        paper = f"{r['paper']:.2f}" if r['paper'] else '-'
        if args.markdown:
            print(f"| {r['config']} | {r['params'] / 1e6:.3f} | {paper} | {diff} | "
                  f"{r['train_params'] / 1e6:.3f} | {r['gmacs']:.2f} |")
        else:
            print(f"{r['config']}: params {r['params']:,} ({r['params'] / 1e6:.3f} M, paper "
                  f"{paper} M, {diff}), train-time params {r['train_params']:,}, "
                  f"{r['gmacs']:.2f} GMACs at {args.shape[0]}x{args.shape[1]}")


if __name__ == '__main__':
    main()
