"""Random-weight checkpoints for tests and benchmarks (no trained weights needed).

``make_random_checkpoint`` writes a checkpoint whose scores and keypoints are not
degenerate; ``calibration_batch`` is the input batch it calibrates on.
"""
import copy
import math
import os
import os.path as osp
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def calibration_batch(images, size: int, g: torch.Generator) -> torch.Tensor:
    """(N, 3, size, size) RGB in [0, 1]: the given images letterboxed like the test
    pipeline (``BottomupResize``, pad 114), else random textures (smooth noise at several
    scales plus white noise)."""
    if images:
        import cv2
        import numpy as np
        from .runtime.geometry import bottomup_resize_params, warp_matrix
        from .runtime.image_io import read_image
        arrs = []
        for path in images:
            img = read_image(str(path))
            center, scale, padded = bottomup_resize_params(img.shape[1], img.shape[0],
                                                           (size, size))
            img = cv2.warpAffine(img, warp_matrix(center, scale, padded), padded,
                                 flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
            arrs.append(img[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255)
        return torch.from_numpy(np.stack(arrs))
    smooth = torch.cat([
        F.interpolate(torch.rand(1, 3, size // f, size // f, generator=g), size=(size, size),
                      mode='bilinear') for f in (64, 16, 4)])
    return (0.5 * smooth + 0.5 * torch.rand(smooth.shape, generator=g)).clamp(0, 1)


def make_random_checkpoint(config, out_file: str, seed: int = 0, conf_std: float = 1.5,
                           conf_mean: float = -3.0, offset_std: float = 0.5,
                           calib_images: Optional[Sequence[str]] = None,
                           calib_sizes: Sequence[int] = (256, ), bn_gamma: float = 0.1) -> str:
    """Save a random-weight checkpoint whose outputs are *not* degenerate (for tests and
    benchmarks without trained weights).

    With the default init the features vanish through the random backbone, so every cell
    gets the same score and keypoints sit on the cell centres. Here convs get He-normal
    weights, BN gets random affine parameters and running statistics measured on a
    photo-like random calibration batch, and the last layers of the prediction branches
    are rescaled on that batch so that confidence logits have mean ``conf_mean`` / std
    ``conf_std`` and keypoint offsets std ``offset_std`` (stride units).

    Random networks are very sensitive to the input statistics (a bright, flat image can
    give logits 10x larger than a textured one): pass ``calib_images`` (image paths) and
    ``calib_sizes`` (network input sizes, multiples of 32) matching how the checkpoint
    will be run, to keep its scores unsaturated there; the default batch is random
    textures at 256x256.
    """
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    from .deploy.export import load_config
    from .models.heads import split_keypoint_channels
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model)).eval()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                mod.weight.normal_(0, math.sqrt(2.0 / mod.weight[0].numel()), generator=g)
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.8 * bn_gamma, 1.2 * bn_gamma, generator=g)
                mod.bias.normal_(0, 0.1, generator=g)
        batches = [calibration_batch(calib_images, int(sz), g) for sz in calib_sizes]
        branches = [model.head.one2one] + \
            ([model.head.one2many] if model.head.one2many is not None else [])
        # BN running statistics = those of the calibration batches (data-dependent init),
        # so that activations stay O(1) through the random network
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over all calibration batches
        model.train()
        for x in batches:
            feats = model.head._select(model.extract_feat(x))
            for br in branches:
                br(feats)
        model.eval()
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        all_feats = [model.head._select(model.extract_feat(x)) for x in batches]
        K = model.head.num_keypoints
        def level_out(seq, lvl):  # last layer's output over all batches, (C, *)
            return torch.cat([seq[-1](seq[:-1](f[lvl])).transpose(0, 1).flatten(1)
                              for f in all_feats], 1)

        for br in branches:
            for lvl in range(len(all_feats[0])):
                last = br.conf[lvl][-1]
                last.weight.mul_(conf_std / level_out(br.conf[lvl], lvl).std().clamp(min=1e-12))
                last.bias.fill_(0)
                last.bias.add_(conf_mean - level_out(br.conf[lvl], lvl).mean())
                last = br.kpt[lvl][-1]
                offsets, _ = split_keypoint_channels(level_out(br.kpt[lvl], lvl), K, dim=0)
                last.weight.mul_(offset_std / offsets.std().clamp(min=1e-12))
                last.bias.zero_()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'seed': seed, 'note': 'random weights (erpose_mm.testing)'}},
               out_file)
    return out_file
