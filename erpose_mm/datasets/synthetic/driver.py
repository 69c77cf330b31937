"""The generator's driver: settings, per-image tasks (optionally in worker processes)
and the dataset layout on disk (see the package docstring)."""
import math
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np

from .coco_format import write_split_annotations
from .scene import DIFFICULTY_PRESETS, generate_image

_SPLIT_CODES = {'train': 0, 'val': 1}


def image_task(args):
    """Generate, write and describe one image (top-level for multiprocessing).

    ``args``: ``(seed, split, index, img_dir, cfg, empty, jpeg_quality)``. The image's RNG
    is seeded by ``(seed, split, index)`` only, so the output does not depend on which
    process runs the task. Returns ``(image_info, annotations)``.
    """
    seed, split, idx, img_dir, cfg, empty, quality = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], int(idx)])
    W = int(rng.integers(cfg['min_size'], cfg['max_size'] + 1))
    ar = math.exp(rng.uniform(-math.log(2.0), math.log(2.0)))
    H = int(np.clip(round(W * ar), cfg['min_size'], cfg['max_size']))
    img, anns = generate_image(rng, W, H, cfg, empty)
    q = int(quality) if quality is not None else int(rng.integers(80, 96))
    file_name = f'{idx + 1:06d}.jpg'
    ok = cv2.imwrite(osp.join(img_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        raise IOError(f'failed to write {osp.join(img_dir, file_name)}')
    return dict(id=idx + 1, file_name=file_name, width=W, height=H), anns


def resolve_config(difficulty, min_size, max_size, max_people, min_people, occlusion,
                   scale_range, crowd_prob, trunc_prob, empty_frac) -> dict:
    """A difficulty preset with the given overrides (``None`` keeps the preset), checked
    and clipped to valid ranges; raises ``ValueError`` naming the bad setting."""
    if difficulty not in DIFFICULTY_PRESETS:
        raise ValueError(f'difficulty must be one of {sorted(DIFFICULTY_PRESETS)}, '
                         f'got {difficulty!r}')
    cfg = dict(DIFFICULTY_PRESETS[difficulty])
    for k, v in dict(max_people=max_people, min_people=min_people, occlusion=occlusion,
                     scale_range=scale_range, crowd_prob=crowd_prob,
                     trunc_prob=trunc_prob).items():
        if v is not None:
            cfg[k] = v
    cfg['max_people'] = int(cfg['max_people'])
    cfg['min_people'] = int(min(cfg['min_people'], cfg['max_people']))
    if cfg['max_people'] < 0 or cfg['min_people'] < 0:
        raise ValueError('max_people/min_people must be >= 0')
    cfg['scale_range'] = tuple(float(v) for v in cfg['scale_range'])
    if not 0 < cfg['scale_range'][0] <= cfg['scale_range'][1]:
        raise ValueError(f'invalid scale_range {cfg["scale_range"]}')
    cfg['occlusion'] = float(np.clip(cfg['occlusion'], 0.0, 1.0))
    cfg['crowd_prob'] = float(np.clip(cfg['crowd_prob'], 0.0, 1.0))
    cfg['trunc_prob'] = float(np.clip(cfg['trunc_prob'], 0.0, 1.0))
    if not 16 <= int(min_size) <= int(max_size):
        raise ValueError(f'need 16 <= min_size <= max_size, got {min_size}, {max_size}')
    cfg['min_size'], cfg['max_size'] = int(min_size), int(max_size)
    cfg['empty_frac'] = float(np.clip(empty_frac, 0.0, 1.0))
    cfg['difficulty'] = difficulty
    cfg['distractors'] = tuple(int(v) for v in cfg['distractors'])
    return cfg


def generate_synthetic_coco(out_dir: str,
                            num_train: int = 200,
                            num_val: int = 50,
                            seed: int = 0,
                            min_size: int = 320,
                            max_size: int = 640,
                            difficulty: str = 'medium',
                            max_people: Optional[int] = None,
                            crowd_prob: Optional[float] = None,
                            progress: bool = True,
                            *,
                            min_people: Optional[int] = None,
                            occlusion: Optional[float] = None,
                            scale_range: Optional[Sequence[float]] = None,
                            trunc_prob: Optional[float] = None,
                            empty_frac: float = 0.05,
                            jpeg_quality: Optional[int] = None,
                            workers: int = 0) -> dict:
    """Write a synthetic multi-person COCO person-keypoints dataset.

    Args:
        out_dir: output root; creates ``train/``, ``val/`` and ``annotations/``.
        num_train, num_val: number of images per split (0 skips writing images but
            still writes a valid, empty annotation file).
        seed: RNG seed; the same seed gives byte-identical JSON files.
        min_size, max_size: range of image width/height in pixels (aspect ratio
            varies between 1:2 and 2:1 within that range).
        difficulty: preset name, ``'easy'`` (1-3 mostly un-occluded medium/large
            people), ``'medium'`` or ``'hard'`` (crowded, heavy occlusion, many
            crowd regions); see :data:`DIFFICULTY_PRESETS`.
        max_people, min_people: people per (non-empty) image, overrides the preset.
        crowd_prob: probability of a crowd region (``iscrowd=1``) per image.
        progress: show a tqdm progress bar.
        occlusion: 0..1, how much people overlap / get occluded (overrides preset).
        scale_range: (lo, hi) standing height as a fraction of the shorter image
            side (people are never smaller than 30 px).
        trunc_prob: probability that a person is placed across the image border.
        empty_frac: fraction of images without people (at least one such image per
            split when the split has >= 4 images and ``empty_frac > 0``).
        jpeg_quality: fixed JPEG quality; default random in [80, 95] per image.
        workers: >0 generates images in that many processes (same output).

    Returns:
        dict with ``out_dir``, ``config`` and, per split, ``ann_file``, ``img_dir``,
        ``num_images``, ``num_annotations``, ``num_persons`` (iscrowd=0),
        ``num_crowd`` and ``num_empty_images``.
    """
    cfg = resolve_config(difficulty, min_size, max_size, max_people, min_people,
                          occlusion, scale_range, crowd_prob, trunc_prob, empty_frac)
    out_dir = osp.abspath(out_dir)
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    splits = [('train', int(num_train)), ('val', int(num_val))]

    tasks = {}
    for split, n in splits:
        img_dir = osp.join(out_dir, split)
        os.makedirs(img_dir, exist_ok=True)
        srng = np.random.default_rng([int(seed), _SPLIT_CODES[split], 2**31 - 1])
        n_empty = int(round(cfg['empty_frac'] * n))
        if n_empty == 0 and cfg['empty_frac'] > 0 and n >= 4:
            n_empty = 1
        empty = set(srng.permutation(n)[:n_empty].tolist()) if n else set()
        if cfg['max_people'] == 0:
            empty = set(range(n))
        tasks[split] = [(seed, split, i, img_dir, cfg, i in empty, jpeg_quality)
                        for i in range(n)]

    all_tasks = [t for split, _ in splits for t in tasks[split]]
    pbar = None
    if progress:
        from tqdm import tqdm
        pbar = tqdm(total=len(all_tasks), desc='synthetic coco', unit='img')
    results = []
    if workers and workers > 0 and len(all_tasks) > 1:
        import multiprocessing as mp
        methods = mp.get_all_start_methods()
        ctx = mp.get_context('fork' if 'fork' in methods else None)
        with ctx.Pool(int(workers)) as pool:
            for r in pool.imap(image_task, all_tasks, chunksize=4):
                results.append(r)
                if pbar is not None:
                    pbar.update(1)
    else:
        for t in all_tasks:
            results.append(image_task(t))
            if pbar is not None:
                pbar.update(1)
    if pbar is not None:
        pbar.close()

    summary = dict(out_dir=out_dir, config={k: (list(v) if isinstance(v, tuple) else v)
                                            for k, v in cfg.items()})
    pos = 0
    for split, n in splits:
        ann_file = osp.join(ann_dir, f'person_keypoints_{split}.json')
        counts = write_split_annotations(ann_file, split, seed, difficulty,
                                         results[pos:pos + n])
        pos += n
        summary[split] = dict(ann_file=ann_file, img_dir=osp.join(out_dir, split), **counts)
    return summary
