"""End-to-end: tools/train.py (train + val), resume, tools/test.py, 2-process CPU DDP."""
import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

from erpose_mm.datasets import generate_synthetic_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
QUICKSTART_CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256_quickstart.py')


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    generate_synthetic_coco(str(root), num_train=8, num_val=4, seed=3, min_size=160,
                            max_size=224, difficulty='easy', progress=False)
    return str(root) + '/'


def _opts(data_root, epochs, extra=()):
    return ['--cfg-options', f'data_root={data_root}',
            f'train_dataloader.dataset.data_root={data_root}',
            f'val_dataloader.dataset.data_root={data_root}',
            f'test_dataloader.dataset.data_root={data_root}',
            f'val_evaluator.ann_file={data_root}annotations/person_keypoints_val.json',
            f'test_evaluator.ann_file={data_root}annotations/person_keypoints_val.json',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', f'train_cfg.max_epochs={epochs}',
            'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1', *extra]


def _run(args, timeout=600, env=None):
    e = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    p = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=e)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return p.stdout + p.stderr


def _ckpt(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_train_validate_resume_and_test(tiny_data, tmp_path):
    work = str(tmp_path / 'work')
    out = _run([sys.executable, 'tools/train.py', CFG, '--work-dir', work,
                *_opts(tiny_data, 1)])
    assert 'coco/AP' in out
    first = _ckpt(osp.join(work, 'epoch_1.pth'))
    assert first['meta']['epoch'] == 1 and first['meta']['iter'] == 2
    for key in ('optimizer', 'param_schedulers', 'ema_state_dict', 'message_hub'):
        assert key in first, key

    # resume: continue the same run to epoch 3 from its last checkpoint
    out = _run([sys.executable, 'tools/train.py', CFG, '--work-dir', work, '--resume',
                *_opts(tiny_data, 3)])
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'Epoch(train) [1]' not in out and 'Epoch(train)   [1]' not in out
    last = _ckpt(osp.join(work, 'epoch_3.pth'))
    assert last['meta']['epoch'] == 3 and last['meta']['iter'] == 6
    # the optimizer state continued (AdamW step count), the scheduler advanced
    step_first = next(iter(first['optimizer']['state'].values()))['step']
    step_last = next(iter(last['optimizer']['state'].values()))['step']
    assert float(step_last) == float(step_first) + 4
    assert last['param_schedulers'][-1]['last_step'] > first['param_schedulers'][-1]['last_step']
    # EMA weights are carried, not re-initialised
    ema = {k: v for k, v in last['ema_state_dict'].items() if k.startswith('module.')}
    assert ema and not all(torch.equal(ema[k], first['ema_state_dict'][k]) for k in ema)
    # the config's ChannelsLastHook ran before EMAHook copied the model: the EMA copy and
    # the trained model both hold NHWC conv weights
    for sd in (last['state_dict'], ema):
        convs = [v for v in sd.values() if v.dim() == 4]
        assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)

    # evaluation with tools/test.py, dumping the COCO-format predictions; with score_thr 0
    # the top-k keeps max_per_img (100) of the 320 candidates (256x256 input) of every image
    out = _run([sys.executable, 'tools/test.py', CFG, osp.join(work, 'epoch_3.pth'),
                '--work-dir', str(tmp_path / 'test'), '--out-json', str(tmp_path / 'preds'),
                *_opts(tiny_data, 3, ['model.test_cfg.score_thr=0.0'])])
    assert 'coco/AP' in out
    preds = json.load(open(str(tmp_path / 'preds') + '.keypoints.json'))
    val = json.load(open(tiny_data + 'annotations/person_keypoints_val.json'))
    assert Counter(p['image_id'] for p in preds) == {im['id']: 100 for im in val['images']}
    for p in preds:
        assert p['category_id'] == 1 and 0 < p['score'] <= 1
        k = np.asarray(p['keypoints']).reshape(17, 3)
        assert np.isfinite(k).all() and ((k[:, 2] >= 0) & (k[:, 2] <= 1)).all()


def test_dist_train_two_processes_on_cpu(tiny_data, tmp_path):
    work = str(tmp_path / 'dist')
    out = _run(['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work,
                *_opts(tiny_data, 1, ['train_dataloader.batch_size=2'])],
               env=dict(PORT='29533', PYTHON=sys.executable))
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert 'coco/AP' in out


def test_quickstart_config_trains_with_bf16_and_channels_last(tiny_data, tmp_path):
    """The quickstart's CPU recipe (bf16 autocast wrapper, NHWC weights, iteration warm-up)
    builds and trains through tools/train.py; the same CLI overrides as quickstart.sh."""
    from erpose_mm.engine import cpu_has_native_bf16
    work = str(tmp_path / 'qs')
    out = _run([sys.executable, 'tools/train.py', QUICKSTART_CFG, '--work-dir', work,
                *_opts(tiny_data, 2, ['param_scheduler.1.end=2'])])
    assert 'coco/AP' in out and "type='CPUBF16OptimWrapper'" in out
    # it says when it falls back to fp32, and only then
    assert ('training in fp32' in out) != cpu_has_native_bf16()
    ckpt = _ckpt(osp.join(work, 'epoch_2.pth'))
    w = ckpt['state_dict']['backbone.stem.conv.weight']
    assert w.dtype == torch.float32 and w.is_contiguous(memory_format=torch.channels_last)
    assert ckpt['optimizer']['state']  # AdamW stepped
    # the quickstart's summary names what its time depends on: the CPU, threads per core,
    # the precision the CPU allowed, the median logged step
    image = osp.join(tiny_data, 'val', sorted(os.listdir(osp.join(tiny_data, 'val')))[0])
    report = _run([sys.executable, 'tools/analysis/quickstart_report.py', QUICKSTART_CFG,
                   osp.join(work, 'epoch_2.pth'), '--work-dir', work, '--image', image,
                   '--train-seconds', '60'])
    lines = dict(line.split(' : ', 1) for line in report.splitlines() if ' : ' in line)
    lines = {k.strip(): v for k, v in lines.items()}
    assert 'logical CPUs' in lines['CPU'] and 'avx2' in lines['CPU']
    assert lines['training precision'].startswith(
        'bf16' if cpu_has_native_bf16() else 'fp32')
    assert float(lines['s per iteration'].split()[0]) > 0
    assert lines['training time'] == '1.0 min' and lines['torch threads'] == '1'
