"""Checkpoint/config compatibility check."""
import torch
import torch.nn as nn


def check_checkpoint_fits(model: nn.Module, checkpoint: str, cfg_name: str = 'the config') -> None:
    """Raise a clear error when a checkpoint's tensors do not fit ``model``.

    MMEngine loads checkpoints non-strictly and only *warns* on shape mismatches, so e.g. a
    17-keypoint checkpoint evaluated with a 14-keypoint config would silently run with
    random keypoint layers and report a meaningless AP. Checked before evaluation.
    """
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    own = model.state_dict()
    bad = []
    for k, v in sd.items():
        k = k[len('module.'):] if k.startswith('module.') else k
        if hasattr(v, 'shape') and k in own and tuple(v.shape) != tuple(own[k].shape):
            bad.append(f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}')
    if bad:
        raise ValueError(f'{checkpoint} does not fit {cfg_name} (e.g. trained for another '
                         f'number of keypoints or another model scale):\n  ' +
                         '\n  '.join(bad[:6]))
