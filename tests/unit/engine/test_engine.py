"""Engine parts that change how training runs on a CPU, not what the model computes."""
import copy
import math
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import HOOKS, MODELS, OPTIM_WRAPPERS

import erpose_mm  # noqa: F401  (registers the modules)
from erpose_mm.engine import cpu_has_native_bf16
from erpose_mm.models.heads import total_loss


@pytest.fixture(scope='module')
def quickstart_model():
    init_default_scope('mmpose')
    cfg = Config.fromfile('configs/erpose/erpose-n_synthetic-256.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def test_channels_last_hook_converts_in_place_and_keeps_outputs(quickstart_model):
    model = copy.deepcopy(quickstart_model)
    params_before = [id(p) for p in model.parameters()]
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        confs, kpts, _ = model.head.forward(model.extract_feat(x))
        ref = [t.clone() for t in list(confs) + list(kpts)]
    assert not all(w.is_contiguous(memory_format=torch.channels_last)
                   for w in _conv_weights(model))

    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    # the runner may hold a wrapped model (DDP): the hook converts the wrapped module
    hook.before_run(types.SimpleNamespace(model=types.SimpleNamespace(module=model)))

    weights = _conv_weights(model)
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    # same Parameter objects: an optimiser built before `before_run` still updates them
    assert [id(p) for p in model.parameters()] == params_before
    with torch.no_grad():
        confs, kpts, _ = model.head.forward(model.extract_feat(x))
        out = list(confs) + list(kpts)
    assert len(out) == len(ref)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # a checkpoint of the converted model loads into a plain one
    plain = copy.deepcopy(quickstart_model)
    plain.load_state_dict(model.state_dict())
    for a, b in zip(plain.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_channels_last_hook_leaves_converted_weights_alone_and_is_found_in_configs():
    from erpose_mm.engine import ChannelsLastHook
    from erpose_mm.engine.hooks import wants_channels_last, weights_are_channels_last
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 1))
    assert not weights_are_channels_last(model)
    model.to(memory_format=torch.channels_last)
    ptrs = [p.data_ptr() for p in model.parameters()]
    HOOKS.build(dict(type='ChannelsLastHook')).before_run(types.SimpleNamespace(model=model))
    assert [p.data_ptr() for p in model.parameters()] == ptrs  # nothing copied
    assert weights_are_channels_last(model)
    cfg = Config.fromfile('configs/erpose/erpose-n_synthetic-256.py')
    assert wants_channels_last(cfg.custom_hooks)
    assert wants_channels_last([dict(type='mmpose.ChannelsLastHook')])
    assert wants_channels_last([ChannelsLastHook()])
    assert not wants_channels_last([dict(type='EMAHook')]) and not wants_channels_last(None)


def _person_sample(h=256, w=256, seed=0):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    g = torch.Generator().manual_seed(seed)
    kpts = torch.tensor([[90.0, 120.0]]) + torch.randn(1, 17, 2, generator=g) * 25
    vis = torch.ones(1, 17)
    bb = torch.cat([kpts.amin(1), kpts.amax(1)], -1)
    ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(w, h)))
    ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=vis, bboxes=bb,
                                         areas=(bb[:, 2:] - bb[:, :2]).prod(-1))
    return ds


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_native_bf16(), reason='CPU without native bf16')
def test_cpu_bf16_wrapper_autocasts_the_backbone_and_keeps_the_head_fp32(quickstart_model):
    model = copy.deepcopy(quickstart_model).train()
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='CPUBF16OptimWrapper',
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3)))
    x = torch.rand(2, 3, 256, 256)
    samples = [_person_sample(seed=0), _person_sample(seed=1)]
    with wrapper.optim_context(model):
        feats = model.extract_feat(x)
        assert all(f.dtype == torch.bfloat16 for f in feats)  # backbone + neck in bf16
        losses = model.head.loss(feats, samples)
    assert all(v.dtype == torch.float32 for v in losses.values())
    # the head, assignment and losses ran in fp32: the same bf16 features give the same
    # losses as outside autocast (in bf16 the decoded keypoints would be off by ~1 px)
    ref = model.head.loss([f.float() for f in feats], samples)
    for k in ref:
        torch.testing.assert_close(losses[k], ref[k], rtol=0, atol=0)
    # a full step: fp32 gradients reach the backbone and the optimiser updates it
    total = total_loss(losses)
    w = model.backbone.stem.conv.weight
    before = w.detach().clone()
    wrapper.update_params(total)
    assert w.dtype == torch.float32 and not torch.equal(w, before)


def test_cpu_bf16_wrapper_falls_back_to_fp32_without_native_bf16(quickstart_model,
                                                                 monkeypatch):
    import erpose_mm.engine.cpu_bf16_optim_wrapper as mod
    monkeypatch.setattr(mod, 'cpu_has_native_bf16', lambda: False)
    model = copy.deepcopy(quickstart_model)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='CPUBF16OptimWrapper',
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3)))
    with wrapper.optim_context(model):
        feats = model.extract_feat(torch.rand(1, 3, 64, 64))
    assert all(f.dtype == torch.float32 for f in feats)


@pytest.mark.slow
@pytest.mark.parametrize('update_buffers', [True, False])
def test_dedup_ema_averages_a_shared_tensor_once_per_step(update_buffers):
    init_default_scope('mmpose')
    cfg = Config.fromfile('configs/erpose/erpose-n_synthetic-256.py')
    for share in (False, True):
        cfg.model.head.share_regression = share
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).train()
        kwargs = dict(momentum=0.002, gamma=50, interval=2, update_buffers=update_buffers)
        ours = MODELS.build(dict(type='DedupExpMomentumEMA', model=model, **kwargs))
        ref = MODELS.build(dict(type='ExpMomentumEMA', model=model, **kwargs))
        assert type(ref).__name__ == 'ExpMomentumEMA' and type(ours) is not type(ref)
        name = 'head.one2one.kpt.0.2.weight'  # shared by both heads when share=True
        expected = None
        torch.manual_seed(2)
        for step in range(6):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.1)
                model.extract_feat(torch.rand(2, 3, 64, 64))  # moves the BN running stats
            src = model.state_dict()[name].clone()
            if step == 0:
                expected = src
            elif step % 2 == 0:
                m = (1 - 0.002) * math.exp(-(1 + step) / 50) + 0.002
                expected = expected * (1 - m) + src * m
            ours.update_parameters(model)
            ref.update_parameters(model)
        state, ref_state = ours.state_dict(), ref.state_dict()
        assert state.keys() == ref_state.keys()
        # every tensor averaged once per update: the YOLOX formula, step by step
        torch.testing.assert_close(state['module.' + name], expected)
        assert not torch.equal(state['module.' + name], src)  # it averaged, not copied
        param_names = {'module.' + n for n, _ in model.named_parameters(remove_duplicate=False)}
        for k in state:
            if update_buffers and share and '.kpt.' in k and k in param_names:
                # MMEngine's loop over the state dict updates a shared tensor once per name
                # (twice per step); named_parameters() (update_buffers=False) lists it once
                assert not torch.equal(state[k], ref_state[k]), k
            else:
                assert torch.equal(state[k], ref_state[k]), k


def test_dedup_ema_update_is_a_few_multi_tensor_calls():
    """One EMA update dispatches a few multi-tensor ops, not two per averaged tensor (each
    a kernel launch on a GPU); the results are those of ExpMomentumEMA (test above)."""
    from torch.profiler import ProfilerActivity, profile
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile('configs/erpose/erpose-n_synthetic-256.py').model)
    counts = {}
    for ema_type in ('DedupExpMomentumEMA', 'ExpMomentumEMA'):
        ema = MODELS.build(dict(type=ema_type, model=model, momentum=0.002, gamma=50,
                                update_buffers=True))
        ema.update_parameters(model)   # step 0 copies
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            ema.update_parameters(model)
        top = [e.name for e in prof.events() if e.cpu_parent is None]
        counts[ema_type] = {op: top.count(op) for op in
                            ('aten::mul_', 'aten::add_', 'aten::_foreach_mul_',
                             'aten::_foreach_add_')}
    n = sum(t.dtype.is_floating_point for t in MODELS.build(dict(
        type='ExpMomentumEMA', model=model, update_buffers=True)).avg_parameters.values())
    assert counts['ExpMomentumEMA']['aten::mul_'] == n > 300   # one per float tensor
    # (the one add_: the step counter, a tensor buffer)
    assert counts['DedupExpMomentumEMA'] == {'aten::mul_': 0, 'aten::add_': 1,
                                             'aten::_foreach_mul_': 1,
                                             'aten::_foreach_add_': 1}, counts
