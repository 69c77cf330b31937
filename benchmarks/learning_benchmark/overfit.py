"""Memorisation check for the learning benchmark's MMPose-side rows: train a row on a few of
the benchmark's training images and score it on the same images.

A model with a working setup (data, targets, loss, decoding, coordinate frames) drives this
towards AP 1; one whose setup is broken stays at AP ~0 however long it trains. So a peer that
is at AP ~0 in the benchmark but climbs here is a slow learner for the budget, not a broken
comparison. Runs on the live tree (not a snapshot); results are not cached.
"""
import json
import os
import os.path as osp
import shutil
import sys
import time
from typing import Dict, List

from benchmarks.common.machine import thread_env
from benchmarks.common.worker import run_worker
from benchmarks.learning_benchmark import data as D
from benchmarks.learning_benchmark.rows import FULL, ROW_BY_NAME, SPLITS
from benchmarks.learning_benchmark.scoring import score_keypoints

DEFAULT_ROWS = ('erpose-n', 'yoloxpose-tiny', 'rtmo-t')


def subset_data(data_root: str, dest: str, num_images: int, split: str = 'mixed') -> str:
    """Copy the first ``num_images`` training images of ``split`` to ``dest`` as both the
    train and the val set (``D.TRAIN_JSON`` / ``D.VAL_JSON`` list the same images and people).
    Returns the new data root (with a trailing slash, as the workers expect)."""
    with open(osp.join(data_root, D.TRAIN_JSON)) as f:
        train = json.load(f)
    images = sorted((im for im in train['images'] if im['file_name'].startswith(split + '_')),
                    key=lambda im: im['id'])[:num_images]
    if len(images) < num_images:
        raise ValueError(f'{osp.join(data_root, D.TRAIN_JSON)}: only {len(images)} training '
                         f'images of split {split!r}, {num_images} asked for')
    ids = {im['id'] for im in images}
    sub = dict(train, images=images,
               annotations=[a for a in train['annotations'] if a['image_id'] in ids])
    if osp.isdir(dest):
        shutil.rmtree(dest)
    for sp in ('train', 'val'):
        os.makedirs(osp.join(dest, sp))
        for im in images:
            shutil.copyfile(osp.join(data_root, 'train', im['file_name']),
                            osp.join(dest, sp, im['file_name']))
    os.makedirs(osp.join(dest, 'annotations'))
    for js in (D.TRAIN_JSON, D.VAL_JSON):
        with open(osp.join(dest, js), 'w') as f:
            json.dump(sub, f)
    return dest.rstrip('/') + '/'


def overfit_budget(num_images: int, iters: int, batch: int, warmup: int,
                   peer_lr_factor: float, input_size: int = FULL['input']) -> dict:
    """The benchmark's budget resized to ``iters`` iterations over ``num_images`` images,
    evaluated at half and at all of them."""
    if num_images % batch:
        raise ValueError(f'--images {num_images} must be a multiple of --batch {batch}')
    epochs = max(2, iters * batch // num_images)
    epochs += epochs % 2  # evaluated at epochs / 2 and epochs: one checkpoint interval
    return dict(FULL, input=input_size, batch=batch, epochs=epochs,
                ckpt_epochs=[epochs // 2, epochs], warmup_iters=warmup, workers=0,
                peer_lr_factor=peer_lr_factor)


def row_spec(name: str, seed: int, budget: dict, data_root: str, row_dir: str,
             threads: int) -> dict:
    """The worker spec of one row (see ``mm_worker.run``)."""
    row = ROW_BY_NAME.get(name)
    if row is None or row['kind'] != 'mm':
        raise ValueError(f'{name}: the memorisation check runs MMPose-side rows '
                         f"(kind 'mm'); see benchmarks/learning.py --list")
    # a checkpoint at the evaluated epochs only (the worker saves every epoch: hundreds here)
    opts = dict(row.get('opts', {}), **{
        'default_hooks.checkpoint.interval': budget['ckpt_epochs'][0]})
    return dict(name=name, seed=seed, budget=budget, data_root=data_root, out_dir=row_dir,
                threads=threads, evals={'': {}}, config=row['config'], opts=opts,
                peer=row.get('peer', False))


def run_row(name: str, seed: int, budget: dict, data_root: str, work: str, threads: int,
            code_dir: str, iters_per_epoch: int, log=print) -> Dict[str, object]:
    """Train and score one row; returns ``{'AP': {iteration: AP}, 'AP50': ..., 'train_s'}``."""
    row_dir = osp.join(work, 'rows', f'{name}_seed{seed}')
    spec = row_spec(name, seed, budget, data_root, row_dir, threads)
    shutil.rmtree(row_dir, ignore_errors=True)
    os.makedirs(row_dir)
    spec_path = osp.join(row_dir, 'spec.json')
    with open(spec_path, 'w') as f:
        json.dump(spec, f, indent=1)
    env = thread_env(threads)
    env['PYTHONPATH'] = code_dir
    log(f'{name} seed {seed}: running -> {row_dir}/worker.log')
    w = run_worker([sys.executable, '-m', 'benchmarks.learning', '--worker', 'mm', '--spec',
                    spec_path], row_dir, env, cwd=code_dir)
    out: Dict[str, object] = dict(AP={}, AP50={}, train_s=w.get('train_s'))
    for e, path in w['preds'][''].items():
        with open(path) as f:
            res = json.load(f)
        s = score_keypoints(osp.join(data_root, D.VAL_JSON), res, crowd=False)
        out['AP'][int(e) * iters_per_epoch] = s['AP']
        out['AP50'][int(e) * iters_per_epoch] = s['AP50']
    return out


def table(results: Dict[str, Dict[str, object]]) -> str:
    """Markdown table: AP and AP50 (x100) per row at each evaluated iteration."""
    its = sorted({i for r in results.values() for i in r['AP']})
    head = '| row | ' + ' | '.join(f'AP @{i} | AP50 @{i}' for i in its) + ' | train s |'
    lines = [head, '|' + '---|' * (2 * len(its) + 2)]
    for name, r in results.items():
        cells = [f"{100 * r['AP'][i]:.1f} | {100 * r['AP50'][i]:.1f}" for i in its]
        lines.append(f"| {name} | " + ' | '.join(cells) + f" | {r['train_s']} |")
    return '\n'.join(lines)


def main(args, root: str) -> List[str]:
    """Make the benchmark's data, the subset, run the rows one after another, print a table."""
    def log(*a):
        print('[overfit]', time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)

    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    b = overfit_budget(args.images, args.iters, args.batch, args.warmup, args.peer_lr_factor)
    full_root = D.make_data(work, FULL, SPLITS, log=log)
    sub = subset_data(full_root, osp.join(work, f'subset_{args.split}_{args.images}'),
                      args.images, args.split)
    log(f'budget {b}; {args.images} {args.split} images, train = val')
    results = {}
    for name in args.rows.split(','):
        results[name] = run_row(name, args.seed, b, sub, work, args.threads, root,
                                args.images // args.batch, log=log)
        log(f"{name}: AP " + ', '.join(f'{v:.3f} @{i}' for i, v in results[name]['AP'].items()))
    print(table(results))
    return list(results)
