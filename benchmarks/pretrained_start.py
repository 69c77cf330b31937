#!/usr/bin/env python
"""Pretrained start in miniature (paper Table XI): does starting ER-Pose-n from converted
YOLOv8n-pose weights beat a random start on a small synthetic set?

    .venv/bin/python -m benchmarks.pretrained_start --work-dir work_dirs/pretrained_start

1. Two synthetic sets (tools/dataset_converters/make_synthetic_coco.py): source domain A
   (``--difficulty hard``, crowded and occluded, 600 train images, generator seed 100) and
   target domain B (``easy``, 300 train / 100 val images, seed 7), 256-320 px.
2. YOLOv8n-pose trained on A with Ultralytics, from its yaml (random init), in the peers
   environment (``--peers-python``, benchmarks/setup_peers_env.sh): ``--source-epochs``
   epochs, batch 8, 256 px, AdamW lr 0.002 cosine, no Mosaic.
3. Its ``last.pt`` converted for configs/erpose/erpose-n_synthetic-256.py
   (tools/model_converters/yolov8_to_erpose.py: backbone, neck and keypoint branch).
4. ER-Pose-n trained on B for ``--target-epochs`` epochs with that config (its recipe,
   schedule shortened), once from the converted weights and once from scratch, per seed;
   val AP on B's val split at the end.

Prints a markdown table (and writes WORK_DIR/results_e{target epochs}.json). Every step is
skipped when its output exists, so a stopped run resumes and another ``--target-epochs``
reuses the data and the source model. Runs one process at a time with ``--threads``
threads each (1 is fastest on a busy 2-core machine: more threads per process thrash).
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/erpose/erpose-n_synthetic-256.py'

SOURCE_TRAIN = """
import sys
from ultralytics import YOLO
data, out, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
YOLO('yolov8n-pose.yaml').train(
    data=data, epochs=epochs, imgsz=256, batch=8, nbs=8, workers=0, device='cpu', seed=seed,
    deterministic=True, val=False, plots=False, amp=False, pretrained=False, project=out,
    name='train', exist_ok=True, verbose=False, mosaic=0.0, close_mosaic=0, optimizer='AdamW',
    lr0=0.002, lrf=0.05, cos_lr=True)
"""


def run(cmd, env=None, log=None) -> None:
    print('+', ' '.join(cmd), flush=True)
    t0 = time.time()
    with open(log, 'w') if log else open(os.devnull, 'w') as fh:
        res = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh if log else None,
                             stderr=subprocess.STDOUT if log else None)
    if res.returncode:
        sys.exit(f'error: step failed (exit {res.returncode}){": see " + log if log else ""}')
    print(f'  done in {time.time() - t0:.0f} s', flush=True)


def last_ap(work_dir: str) -> float:
    """The last ``coco/AP`` MMEngine logged in ``work_dir``."""
    aps = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as fh:
            aps += [json.loads(ln)['coco/AP'] for ln in fh if '"coco/AP"' in ln]
    if not aps:
        sys.exit(f'error: {work_dir}: no coco/AP logged')
    return float(aps[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/pretrained_start')
    p.add_argument('--peers-python', default=os.environ.get('BENCH_PYTHON') or
                   osp.join(ROOT, '.bench_venv', 'bin', 'python'))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--source-epochs', type=int, default=4)
    p.add_argument('--target-epochs', type=int, default=3)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    py = sys.executable
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    t_start = time.time()

    data = {'A': ('hard', 600, 50, 100), 'B': ('easy', 300, 100, 7)}
    for name, (difficulty, n_train, n_val, seed) in data.items():
        root = osp.join(work, 'data', name)
        if not osp.exists(osp.join(root, 'annotations', 'person_keypoints_val.json')):
            run([py, 'tools/dataset_converters/make_synthetic_coco.py', root, '--difficulty',
                 difficulty, '--num-train', str(n_train), '--num-val', str(n_val), '--seed',
                 str(seed), '--min-size', '256', '--max-size', '320', '--workers', '1'], env)
    yolo_a = osp.join(work, 'data', 'A_yolo')
    if not osp.exists(osp.join(yolo_a, 'data.yaml')):
        for split in ('train', 'val'):
            run([py, 'tools/dataset_converters/coco_to_yolo_pose.py',
                 osp.join(work, 'data', 'A', 'annotations', f'person_keypoints_{split}.json'),
                 osp.join(work, 'data', 'A', split), yolo_a, '--split', split], env)

    source = osp.join(work, 'source', 'train', 'weights', 'last.pt')
    if not osp.exists(source):
        peers_env = dict(env, YOLO_OFFLINE='1', YOLO_VERBOSE='False')
        peers_env.setdefault('YOLO_CONFIG_DIR', osp.join(osp.dirname(osp.dirname(
            args.peers_python)), 'yolo_config'))
        peers_env.pop('PYTHONPATH', None)
        run([args.peers_python, '-c', SOURCE_TRAIN, osp.join(yolo_a, 'data.yaml'),
             osp.join(work, 'source'), str(args.source_epochs), '0'], peers_env,
            log=osp.join(work, 'source_train.log'))
    converted = osp.join(work, 'yolov8n-pose_A_erpose-n.pth')
    if not osp.exists(converted):
        run([py, 'tools/model_converters/yolov8_to_erpose.py', source, CONFIG, converted], env)

    b = osp.join(work, 'data', 'B')
    T = args.target_epochs
    common = [f'train_dataloader.dataset.data_root={b}/', f'val_dataloader.dataset.data_root={b}/',
              f'test_dataloader.dataset.data_root={b}/',
              f'val_evaluator.ann_file={b}/annotations/person_keypoints_val.json',
              f'test_evaluator.ann_file={b}/annotations/person_keypoints_val.json',
              f'train_cfg.max_epochs={T}', f'train_cfg.val_interval={T}',
              f'param_scheduler.1.end={T}', f'param_scheduler.1.T_max={T - 1}',
              'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
              'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']
    results = {}
    for seed in args.seeds:
        for start in ('scratch', 'pretrained'):
            run_name = f'{start}_seed{seed}_e{T}'
            wd = osp.join(work, 'runs', run_name)
            if not glob.glob(osp.join(wd, '*', 'vis_data', 'scalars.json')) or \
                    not osp.exists(osp.join(wd, 'done')):
                extra = [f'load_from={converted}'] if start == 'pretrained' else []
                run([py, 'tools/train.py', CONFIG, '--work-dir', wd, '--cfg-options',
                     *common, f'randomness.seed={seed}', *extra], env,
                    log=osp.join(work, f'{run_name}.log'))
                open(osp.join(wd, 'done'), 'w').close()
            results[f'{start}_seed{seed}'] = last_ap(wd)
    with open(osp.join(work, f'results_e{T}.json'), 'w') as fh:
        json.dump(dict(results=results, args=vars(args)), fh, indent=1)
    print(f'\nER-Pose-n on synthetic B, {T} epochs, val AP '
          f'(this run: {time.time() - t_start:.0f} s)')
    print('| seed | from scratch | from YOLOv8n-pose (trained on A) | difference |')
    print('|---|---|---|---|')
    for seed in args.seeds:
        s, pt = results[f'scratch_seed{seed}'], results[f'pretrained_seed{seed}']
        print(f'| {seed} | {s:.3f} | {pt:.3f} | {pt - s:+.3f} |')


if __name__ == '__main__':
    main()
