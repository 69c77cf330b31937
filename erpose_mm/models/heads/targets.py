"""Ground truth of a batch as padded tensors, for the batched assignment and losses."""
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ...runtime.constants import AREA_PER_BOX


def _as_tensor(x, device) -> Tensor:
    """A data sample field (tensor or array) as a float32 tensor on ``device`` (no op when it
    already is one)."""
    t = x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype != torch.float32 or t.device != torch.device(device):
        t = t.to(device=device, dtype=torch.float32)
    return t


def pad_targets(batch_data_samples: Sequence, num_keypoints: int, oks_scale: str,
                device) -> Dict[str, Tensor]:
    """The people of a batch, padded to the largest count G.

    Each field is concatenated over the images in one op and scattered into its padded
    tensor in one more, so the number of dispatched ops does not grow with the batch (and
    nothing is copied to the host: on a GPU the targets stay where the data preprocessor
    put them).

    ``oks_scale``: ``'bbox'`` (s^2 = box area) or ``'area'`` (the annotation's area; 0.53 x
    the box area where a dataset has none), see :class:`ERPoseHead`.

    Returns ``keypoints`` (B, G, K, 2), ``keypoints_visible`` (B, G, K), ``bboxes``
    (B, G, 4) xyxy, ``areas`` (B, G) (the OKS scale ``s^2``, see ``oks_scale``) and
    ``mask`` (B, G) bool (a real person, not padding).
    """
    K = num_keypoints
    gts = [ds.gt_instance_labels for ds in batch_data_samples]
    counts = [len(gt) for gt in gts]
    for ds, gt, n in zip(batch_data_samples, gts, counts):
        k = gt.keypoints.shape[-2] if n else K
        if k != K:
            raise ValueError(
                f"ERPoseHead: image {ds.metainfo.get('img_path', '?')} has annotations with "
                f'{k} keypoints per person but the model predicts num_keypoints={K}; set '
                f'model.head.num_keypoints, model.head.metainfo and the datasets\' '
                f'metainfo (train_dataloader.dataset.metainfo, ...) to one keypoint set '
                f'(e.g. the *_crowdpose-* configs for 14 keypoints; '
                f'docs/custom_keypoints.md)')
    B, G, total = len(gts), max(counts, default=0), sum(counts)
    use_areas = oks_scale == 'area' and all('areas' in gt for gt, n in zip(gts, counts) if n)

    def cat(name: str, shape: Tuple[int, ...]) -> Tensor:
        parts = [_as_tensor(gt.get(name), device) for gt, n in zip(gts, counts) if n]
        if not parts:
            return torch.zeros((0,) + tuple(max(d, 1) for d in shape), device=device)
        return torch.cat(parts).reshape((total,) + shape)

    kpts = cat('keypoints', (K, 2))
    vis = cat('keypoints_visible', (K, -1))[..., 0]
    boxes = cat('bboxes', (4,))
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
    if oks_scale == 'bbox':
        areas = wh.prod(-1)
    elif use_areas:
        areas = cat('areas', ())
    else:
        areas = wh.prod(-1) * AREA_PER_BOX  # COCO's mean mask/box area ratio
    # where each person goes in the padded (B, G) layout (host arithmetic on counts)
    img = np.repeat(np.arange(B), counts)
    slot = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    index = torch.from_numpy(img * G + slot).to(device)

    def pad(t: Tensor) -> Tensor:
        out = t.new_zeros((B * G,) + t.shape[1:])
        out[index] = t
        return out.reshape((B, G) + t.shape[1:])

    mask = torch.zeros(B * G, dtype=torch.bool, device=device).index_fill_(0, index, True)
    return dict(keypoints=pad(kpts), keypoints_visible=pad(vis), bboxes=pad(boxes),
                areas=pad(areas), mask=mask.reshape(B, G))
