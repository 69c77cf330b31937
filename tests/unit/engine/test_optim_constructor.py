"""GroupedOptimWrapperConstructor: ER-Pose's parameters in one group per distinct setting
(instead of MMEngine's one group per parameter), every update unchanged, and optimiser state
saved with one group per parameter resumable."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

import erpose_mm  # noqa: F401

register_all_modules()
CFG = 'configs/erpose/erpose-n_synthetic-256.py'


def build(constructor: bool, foreach=None, seed=0):
    cfg = Config.fromfile(CFG)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    ow_cfg = copy.deepcopy(cfg.optim_wrapper)
    assert ow_cfg.pop('constructor') == 'GroupedOptimWrapperConstructor'   # the configs' default
    if constructor:
        ow_cfg['constructor'] = 'GroupedOptimWrapperConstructor'
    ow_cfg.optimizer['foreach'] = foreach
    return model, build_optim_wrapper(model, ow_cfg)


def train(model, ow, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(2, 3, 64, 64, generator=g)
        # backbone + neck: parameters of both groups (convolutions with weight decay, norms
        # and biases without); the head's get no gradient and keep no state
        loss = sum(f.float().pow(2).mean() for f in model.extract_feat(x))
        ow.update_params(loss)


def settings(ow):
    """parameter -> its (lr, weight_decay, betas, eps)."""
    return {id(p): (g['lr'], g['weight_decay'], g['betas'], g['eps'])
            for g in ow.optimizer.param_groups for p in g['params']}


def test_groups_are_merged_by_setting():
    model, grouped = build(True)
    _, default = build(False)
    assert len(default.optimizer.param_groups) == sum(1 for _ in model.parameters())
    groups = grouped.optimizer.param_groups
    assert len(groups) == 2      # with / without weight decay (norms and biases)
    assert sorted(g['weight_decay'] for g in groups) == [0.0, 0.05]
    params = [p for g in groups for p in g['params']]
    assert len(params) == len({id(p) for p in params}) == sum(1 for _ in model.parameters())
    # each parameter keeps the setting the default constructor gives it (same order)
    names = {id(p): n for n, p in model.named_parameters()}
    d = {names[k]: v for k, v in settings(grouped).items()}
    m2, default = build(False)
    names2 = {id(p): n for n, p in m2.named_parameters()}
    assert d == {names2[k]: v for k, v in settings(default).items()}


@pytest.mark.slow
@pytest.mark.parametrize('foreach', [None, True])
def test_updates_are_bit_identical_to_one_group_per_parameter(foreach):
    m1, ow1 = build(True, foreach)
    m0, ow0 = build(False, foreach)
    train(m1, ow1, 3)
    train(m0, ow0, 3)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m0.parameters()))


@pytest.mark.slow
def test_state_saved_with_one_group_per_parameter_resumes():
    m0, ow0 = build(False)
    train(m0, ow0, 2)
    saved = copy.deepcopy(ow0.state_dict())
    m1, ow1 = build(True)
    m1.load_state_dict(m0.state_dict())
    ow1.load_state_dict(saved)          # old layout -> merged groups
    for p1, p0 in zip(m1.parameters(), m0.parameters()):
        if p0 in ow0.optimizer.state:
            for k in ('exp_avg', 'exp_avg_sq', 'step'):
                assert torch.equal(ow1.optimizer.state[p1][k], ow0.optimizer.state[p0][k])
        else:
            assert p1 not in ow1.optimizer.state
    train(m1, ow1, 2, seed=5)
    train(m0, ow0, 2, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m0.parameters()))
    # and the merged layout round-trips as it is
    m2, ow2 = build(True)
    m2.load_state_dict(m1.state_dict())
    ow2.load_state_dict(copy.deepcopy(ow1.state_dict()))
    assert len(ow2.optimizer.param_groups) == 2
    train(m2, ow2, 1, seed=9)
    train(m1, ow1, 1, seed=9)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
