"""Checkpoints must fit what they are loaded into: inference/evaluation/export refuse what
does not fit (one line naming tensors and cause); training's load_from follows fine-tuning
rules (K-dependent layers start fresh with the keypoint prior, one log line)."""
import importlib
import logging
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

from erpose_mm.datasets import generate_synthetic_coco
from erpose_mm.models.heads.keypoint_prior import keypoint_offset_prior
from erpose_mm.utils.checkpoint_fit import (CheckpointMismatchError, check_checkpoint_fits,
                                            plan_finetune_load)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
CFG_S = osp.join(REPO, 'configs/erpose/erpose-s_coco-640.py')
CFG_N14 = osp.join(REPO, 'configs/erpose/erpose-n_crowdpose-640.py')
CFG_SYN = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')


def _build(cfg_path, seed=0):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    model.init_weights()
    return model


def _save(sd, path, **extra):
    torch.save(dict(meta=dict(epoch=1), state_dict=dict(sd), **extra), path)
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp('ckpts')
    n, s, n14 = _build(CFG_N, 1), _build(CFG_S, 2), _build(CFG_N14, 3)
    sd = n.state_dict()
    return dict(
        n=_save(sd, d / 'n.pth'),
        s=_save(s.state_dict(), d / 's.pth'),
        n14=_save(n14.state_dict(), d / 'n14.pth'),
        backbone=_save({k: v for k, v in sd.items() if k.startswith('backbone.')},
                       d / 'backbone.pth'),
        other=_save({f'encoder.{i}.weight': v for i, v in enumerate(sd.values())},
                    d / 'other.pth'),
        dir=d, n_sd=sd, n14_sd=n14.state_dict(), s_sd=s.state_dict())


@pytest.fixture(scope='module')
def model_n():
    return _build(CFG_N, 0)


def test_a_fitting_checkpoint_passes_in_every_layout(ckpts, model_n):
    sd = ckpts['n_sd']
    d = ckpts['dir']
    # MMEngine EMA layout: EMA weights in state_dict (DDP prefix), training weights in
    # ema_state_dict; extra `ema_*` tensors; no training-only one-to-many head (deploy)
    ema = _save({('module.' + k): v for k, v in sd.items()
                 if not k.startswith('head.one2many.')} | {'ema_backbone_stem': sd[
                     'backbone.stem.conv.weight']}, d / 'ema.pth',
                ema_state_dict={'module.' + k: v for k, v in sd.items()})
    for path in (ckpts['n'], ema):
        fit = check_checkpoint_fits(model_n, path, CFG_N)
        assert fit.ok and not fit.missing and not fit.mismatched
    assert check_checkpoint_fits(model_n, ema, CFG_N).unused == ['ema_backbone_stem']


@pytest.mark.parametrize('which, cause, tensor', [
    ('s', 'another scale (checkpoint ER-Pose-s, config ER-Pose-n; from the stem width)',
     'backbone.stem.conv.weight (checkpoint (32,3,3,3) vs model (16,3,3,3))'),
    ('n14', 'another keypoint count (checkpoint K=14, config K=17)',
     'head.one2one.kpt.0.0.conv.weight (checkpoint (42,128,3,3) vs model (51,128,3,3))'),
    ('backbone', 'the checkpoint has no head/neck tensors (a backbone-only or partial '
     'checkpoint?)', 'neck.top_down.0.cv1.conv.weight (missing)'),
    ('other', 'another model (no tensor name in common)', 'backbone.stem.conv.weight (missing)'),
])
def test_an_unfit_checkpoint_is_refused_with_one_line(ckpts, model_n, which, cause, tensor):
    with pytest.raises(CheckpointMismatchError) as err:
        check_checkpoint_fits(model_n, ckpts[which], CFG_N)
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith(f'{ckpts[which]} does not fit {CFG_N}: {cause};')
    assert tensor in msg and msg.endswith('(--allow-partial-checkpoint loads only the '
                                          'tensors that fit)')
    # the expert's way out: a warning, and the comparison for the caller
    fit = check_checkpoint_fits(model_n, ckpts[which], CFG_N, allow_partial=True)
    assert not fit.ok


def test_not_a_checkpoint_is_named(tmp_path, model_n):
    path = tmp_path / 'cfg.pth'
    path.write_text("model = dict(type='X')")
    with pytest.raises(CheckpointMismatchError, match=f'^{path}: cannot be read as a PyTorch '
                       'checkpoint'):
        check_checkpoint_fits(model_n, str(path), CFG_N)


def test_finetune_plan_restarts_only_the_keypoint_branches(ckpts, model_n):
    """K 14 -> 17: the keypoint branches (output 3K channels, hidden width max(C//4, 3K))
    start fresh, everything else loads."""
    model_sd = model_n.state_dict()
    plan = plan_finetune_load(model_sd, ckpts['n14_sd'], ckpts['n14'], CFG_N)
    expected = sorted(k for k in model_sd if k.startswith(('head.one2one.kpt.',
                                                           'head.one2many.kpt.')))
    assert len(expected) == 2 * 2 * (2 * 6 + 2)  # 2 heads x 2 levels x (2 ConvBN + 1 conv)
    assert sorted(plan.fresh) == expected
    assert (plan.ckpt_k, plan.model_k) == (14, 17)
    assert plan.loaded == len(model_sd) - len(expected)
    for k, v in plan.state_dict.items():
        src = model_sd if k in expected else ckpts['n14_sd']
        assert torch.equal(v, src[k]), k
    # a checkpoint without the training-only one-to-many head: it starts fresh
    no_mah = {k: v for k, v in ckpts['n_sd'].items() if not k.startswith('head.one2many.')}
    plan = plan_finetune_load(model_sd, no_mah, 'deployed.pth', CFG_N)
    assert plan.fresh and all(k.startswith('head.one2many.') for k in plan.fresh)
    # --allow-partial-checkpoint (cfg.allow_partial_checkpoint): what fits, the rest fresh
    plan = plan_finetune_load(model_sd, ckpts['s_sd'], ckpts['s'], CFG_N, allow_partial=True)
    assert 'backbone.stem.conv.weight' in plan.fresh and 0 < plan.loaded < len(model_sd)
    for k, v in plan.state_dict.items():
        src = model_sd if k in plan.fresh or k not in ckpts['s_sd'] else ckpts['s_sd']
        assert torch.equal(v, src[k]), k
    # another scale or a partial checkpoint is refused
    for which in ('s', 'backbone'):
        with pytest.raises(CheckpointMismatchError, match='does not fit'):
            plan_finetune_load(model_sd, ckpts[f'{which}_sd'] if which == 's' else
                               torch.load(ckpts[which], weights_only=False)['state_dict'],
                               ckpts[which], CFG_N)


def test_runner_load_from_finetunes_with_the_keypoint_prior(ckpts, tmp_path):
    """ERPoseRunner's load_from, as tools/train.py uses it: K=14 -> 17."""
    from mmengine.registry import init_default_scope

    from erpose_mm.engine import ERPoseRunner
    init_default_scope('mmpose')
    cfg = Config.fromfile(CFG_SYN)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = ckpts['n14']
    runner = ERPoseRunner.from_cfg(cfg)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    runner.logger.addHandler(handler)
    try:
        ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
        ema_hook.before_run(runner)          # what Runner.train does before init and load
        runner._init_model_weights()
        runner._erpose_training = True
        runner.load_or_resume()
    finally:
        runner.logger.removeHandler(handler)
    model = runner.model
    src = ckpts['n14_sd']
    assert torch.equal(model.state_dict()['backbone.stem.conv.weight'],
                       src['backbone.stem.conv.weight'])
    assert torch.equal(model.state_dict()['head.one2one.conf.0.4.bias'],
                       src['head.one2one.conf.0.4.bias'])
    # the fresh output layers hold the head's initialisation: the standing-pose prior
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    meta = parse_pose_metainfo(dict(from_file=cfg.model.head.metainfo))
    names = [meta['keypoint_id2name'][i] for i in range(17)]
    prior = torch.as_tensor(keypoint_offset_prior(names, cfg.model.head.kpt_prior_height,
                                                  cfg.model.head.get('offset_scale', 2.0)))
    for lvl in (0, 1):
        bias = model.head.one2one.kpt[lvl][2].bias.detach()
        assert bias.shape == (51,)
        torch.testing.assert_close(bias[:34], prior.reshape(-1))
        assert torch.equal(bias[34:], torch.zeros(17))
    # the EMA copy got the same weights
    ema = ema_hook.ema_model.module.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(ema[k], v), k
    lines = [r.getMessage() for r in records if 'started fresh' in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in records]
    assert (f'load_from {ckpts["n14"]}: loaded {len(src) - 56} of {len(src)} tensors; started '
            'fresh (keypoint count 14 -> 17; keypoint prior kpt_prior_height=4.0 for 17 of '
            '17 keypoints by name): head.one2many.kpt, head.one2one.kpt') == lines[0]


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    generate_synthetic_coco(str(root), num_train=8, num_val=2, seed=3, min_size=128,
                            max_size=160, difficulty='easy', empty_frac=0.0, progress=False)
    return str(root) + '/'


def _train(data, work, ckpt, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=osp.join(work, 'cache'))
    opts = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=4',
            'train_cfg.max_epochs=1', f'load_from={ckpt}']
    p = subprocess.run([sys.executable, 'tools/train.py', CFG_SYN, '--work-dir', work,
                        '--no-validate', *extra, '--cfg-options', *opts], cwd=REPO,
                       capture_output=True, text=True, timeout=600, env=env)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.slow
def test_train_load_from_another_k_trains_and_another_scale_is_refused(ckpts, tiny_data,
                                                                      tmp_path):
    rc, out = _train(tiny_data, str(tmp_path / 'k'), ckpts['n14'])
    assert rc == 0, out[-3000:]
    fresh = [line for line in out.splitlines() if 'started fresh' in line]
    assert len(fresh) == 1 and 'keypoint count 14 -> 17' in fresh[0]
    assert 'size mismatch' not in out  # no MMEngine warnings besides the one line
    assert osp.isfile(tmp_path / 'k' / 'epoch_1.pth')

    rc, out = _train(tiny_data, str(tmp_path / 's'), ckpts['s'])
    assert rc == 2 and 'Traceback' not in out
    errors = [line for line in out.splitlines() if 'error: ' in line]
    assert len(errors) == 1 and 'another scale (checkpoint ER-Pose-s, config ER-Pose-n' in \
        errors[0]
    assert not osp.exists(tmp_path / 's' / 'epoch_1.pth')


def _tool(name):
    return importlib.import_module(f'tools.{name}')


def test_test_py_refuses_a_backbone_only_checkpoint(ckpts, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['test.py', CFG_N, ckpts['backbone'], '--work-dir',
                                      str(tmp_path / 'w')])
    tool = _tool('test')
    from mmengine.runner import Runner
    monkeypatch.setattr(Runner, 'test', lambda self: pytest.fail('evaluated'))
    with pytest.raises(SystemExit) as err:
        tool.main()
    assert err.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert msg.startswith(f'error: {ckpts["backbone"]} does not fit {CFG_N}: the checkpoint '
                          'has no head/neck tensors') and '\n' not in msg


def test_infer_py_refuses_another_keypoint_count(ckpts, tmp_path, capsys):
    img = str(tmp_path / 'img.jpg')
    cv2.imwrite(img, np.full((96, 128, 3), 127, np.uint8))
    rc = _tool('infer').main([CFG_N, ckpts['n14'], img, '--out-dir', str(tmp_path / 'o')])
    err = capsys.readouterr().err
    assert rc != 0 and not osp.exists(tmp_path / 'o' / 'predictions')
    lines = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1 and 'another keypoint count (checkpoint K=14, config K=17)' in \
        lines[0]
