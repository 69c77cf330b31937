"""MMEngine's plain ``Runner.from_cfg(cfg)`` (what MMPose's own tools/train.py and
tools/test.py build) on an ER-Pose config refuses bad training data and a checkpoint that
does not fit, with the same one-line errors as tools/train.py / tools/test.py: the
checked dataset types and ``CheckpointFitHook`` come with the configs."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpose.registry import MODELS

from erpose_mm.datasets import generate_synthetic_coco
from erpose_mm.datasets.checks import DatasetCheckError
from erpose_mm.utils.checkpoint_fit import CheckpointMismatchError

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
CFG_S = osp.join(REPO, 'configs/erpose/erpose-s_coco-640.py')
ANN = 'annotations/person_keypoints_train.json'


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('syn'))
    generate_synthetic_coco(root, num_train=8, num_val=2, seed=3, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.0, progress=False)
    return root


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp('ckpts')
    init_default_scope('mmpose')
    out = {}
    for name, cfg in (('n', CFG), ('s', CFG_S)):
        torch.manual_seed(0)
        sd = MODELS.build(Config.fromfile(cfg).model).state_dict()
        out[name] = str(d / f'{name}.pth')
        torch.save(dict(meta=dict(epoch=1), state_dict=sd), out[name])
    sd = torch.load(out['n'], weights_only=True)['state_dict']
    out['backbone'] = str(d / 'backbone.pth')
    torch.save(dict(state_dict={k: v for k, v in sd.items() if k.startswith('backbone.')}),
               out['backbone'])
    return out


def _cfg(data, work, cache, **changes):
    cfg = Config.fromfile(CFG)
    opts = {'work_dir': str(work), 'train_dataloader.dataset.data_root': data + '/',
            'val_dataloader.dataset.data_root': data + '/',
            'test_dataloader.dataset.data_root': data + '/',
            'val_evaluator.ann_file': osp.join(data, 'annotations/person_keypoints_val.json'),
            'test_evaluator.ann_file': osp.join(data, 'annotations/person_keypoints_val.json'),
            'train_dataloader.dataset.check_cache_dir': str(cache),
            'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
            'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
            'test_dataloader.num_workers': 0, 'test_dataloader.persistent_workers': False,
            'train_dataloader.batch_size': 4, 'train_cfg.max_epochs': 1, 'val_cfg': None,
            'val_dataloader': None, 'val_evaluator': None,
            'default_hooks.checkpoint.save_best': None}
    opts.update(changes)
    cfg.merge_from_dict(opts)
    return cfg


def _tool(tool, *args, cache):
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=str(cache))
    p = subprocess.run([sys.executable, f'tools/{tool}.py', *args], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith('error: ')]
    return p.returncode, errors, p.stdout + p.stderr


def test_runner_from_cfg_refuses_bad_training_data_like_train_py(data, tmp_path):
    bad = str(tmp_path / 'bad')
    os.makedirs(osp.join(bad, 'annotations'))
    os.symlink(osp.join(data, 'train'), osp.join(bad, 'train'))
    raw = json.load(open(osp.join(data, ANN)))
    raw['images'][3]['id'] = raw['images'][1]['id']
    json.dump(raw, open(osp.join(bad, ANN), 'w'))
    cfg = _cfg(bad, tmp_path / 'w', tmp_path / 'cache')
    assert cfg.train_dataloader.dataset.type == 'CheckedCocoDataset'
    with pytest.raises(DatasetCheckError) as err:
        Runner.from_cfg(cfg).train()
    msg = str(err.value)
    assert msg.startswith(f'{osp.join(bad, ANN)}: duplicate image ids') and '\n' not in msg
    rc, errors, out = _tool('train', CFG, '--work-dir', str(tmp_path / 't'), '--cfg-options',
                            f'train_dataloader.dataset.data_root={bad}/',
                            'train_dataloader.num_workers=0',
                            'train_dataloader.persistent_workers=False', '--no-validate',
                            cache=tmp_path / 'cache2')
    assert rc == 2 and errors == [f'error: {msg}'], out[-3000:]


def test_runner_from_cfg_refuses_another_scale_in_training_like_train_py(data, ckpts,
                                                                         tmp_path):
    cfg = _cfg(data, tmp_path / 'w', tmp_path / 'cache', load_from=ckpts['s'])
    runner = Runner.from_cfg(cfg)
    assert type(runner) is Runner
    with pytest.raises(CheckpointMismatchError) as err:
        runner.train()
    msg = str(err.value)
    assert 'another scale (checkpoint ER-Pose-s, config ER-Pose-n' in msg and '\n' not in msg
    assert not osp.exists(tmp_path / 'w' / 'epoch_1.pth')
    rc, errors, out = _tool('train', CFG, '--work-dir', str(tmp_path / 't'), '--no-validate',
                            '--cfg-options', f'train_dataloader.dataset.data_root={data}/',
                            'train_dataloader.num_workers=0',
                            'train_dataloader.persistent_workers=False',
                            f'load_from={ckpts["s"]}', cache=tmp_path / 'cache')
    assert rc == 2 and errors == [f'error: {msg}'], out[-3000:]


def test_runner_from_cfg_test_refuses_a_backbone_only_checkpoint_like_test_py(data, ckpts,
                                                                              tmp_path):
    cfg = _cfg(data, tmp_path / 'w', tmp_path / 'cache', load_from=ckpts['backbone'])
    with pytest.raises(CheckpointMismatchError) as err:
        Runner.from_cfg(cfg).test()
    msg = str(err.value)
    assert msg.startswith(f'{ckpts["backbone"]} does not fit {CFG}: the checkpoint has no '
                          'head/neck tensors') and '\n' not in msg
    rc, errors, out = _tool('test', CFG, ckpts['backbone'], '--work-dir', str(tmp_path / 't'),
                            '--cfg-options', f'test_dataloader.dataset.data_root={data}/',
                            cache=tmp_path / 'cache')
    assert rc == 2 and errors == [f'error: {msg}'], out[-3000:]


def test_a_fitting_checkpoint_is_evaluated_by_runner_from_cfg(data, ckpts, tmp_path):
    cfg = _cfg(data, tmp_path / 'w', tmp_path / 'cache', load_from=ckpts['n'])
    metrics = Runner.from_cfg(cfg).test()
    assert 'coco/AP' in metrics
