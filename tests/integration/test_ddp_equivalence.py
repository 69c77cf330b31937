"""A DDP step equals one big batch: 2 gloo processes with B images each give the gradients
(averaged over the ranks, as DistributedDataParallel does) of one process holding the 2B
images, also when the people are spread unevenly over the ranks. The head normalises its
losses by the normalisers' mean over the ranks (erpose_mm/utils/dist.py)."""
import os
import os.path as osp
import socket
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'erpose', 'erpose-n_synthetic-256.py')
SIZE = 128
WORLD_SIZE = 2
B = 2  # images per rank
# people per image: rank 0's B images, then rank 1's
CASES = {'0_vs_12': (0, 0, 5, 7), '1_vs_7': (1, 0, 3, 4), 'bbox_1_vs_7': (1, 0, 3, 4)}


def _build_model(case: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    from torch.nn.modules.batchnorm import _BatchNorm

    import erpose_mm  # noqa: F401
    init_default_scope('mmpose')
    cfg = Config.fromfile(CONFIG).model
    if case.startswith('bbox'):
        cfg.head.with_bbox = True
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    for m in model.modules():  # batch statistics would differ between B and 2B images
        if isinstance(m, _BatchNorm):
            m.eval()
    return model


def _batch(case: str):
    """The 2B images (all ranks') and their data samples; some people lack keypoints."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    g = torch.Generator().manual_seed(len(case))
    imgs = torch.rand(WORLD_SIZE * B, 3, SIZE, SIZE, generator=g)
    samples = []
    for n in CASES[case]:
        centre = 24 + torch.rand(n, 1, 2, generator=g) * (SIZE - 48)
        kpts = centre + torch.randn(n, 17, 2, generator=g) * 10
        vis = (torch.rand(n, 17, generator=g) > 0.3).float()
        lo = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, 1e9)).amin(1)
        hi = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, -1e9)).amax(1)
        boxes = torch.cat([lo, hi], -1)
        ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(SIZE, SIZE)))
        ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=vis,
                                             bboxes=boxes,
                                             areas=(boxes[:, 2:] - boxes[:, :2]).prod(-1))
        samples.append(ds)
    return imgs, samples


def _grads(model, imgs, samples, step=None):
    """Parameter gradients (name -> tensor) and losses of one training step."""
    from erpose_mm.models.heads import total_loss
    model.zero_grad()
    losses = (step or model)(imgs, samples, mode='loss')
    total_loss(losses).backward()
    return ({n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.grad is not None}, {k: v.item() for k, v in losses.items()})


def _worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=WORLD_SIZE)
    try:
        for case in CASES:
            model = _build_model(case)
            ddp = DistributedDataParallel(model, find_unused_parameters=True)
            imgs, samples = _batch(case)
            mine = slice(rank * B, (rank + 1) * B)
            grads, losses = _grads(model, imgs[mine], samples[mine], step=ddp)
            if rank == 0:
                torch.save(dict(grads=grads, losses=losses), osp.join(out_dir, f'{case}.pth'))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def ddp_grads(tmp_path_factory):
    """rank 0's gradients after DDP's average, per case, from one 2-process gloo run."""
    import torch.multiprocessing as mp

    out = str(tmp_path_factory.mktemp('ddp'))
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    mp.spawn(_worker, args=(_free_port(), out), nprocs=WORLD_SIZE, join=True)
    return {case: torch.load(osp.join(out, f'{case}.pth')) for case in CASES}


@pytest.mark.parametrize('case', list(CASES))
def test_ddp_step_equals_one_batch_of_all_ranks_images(ddp_grads, case):
    model = _build_model(case)
    imgs, samples = _batch(case)
    ref, losses = _grads(model, imgs, samples)
    got = ddp_grads[case]['grads']
    assert got.keys() == ref.keys()
    assert losses['num_pos'] > 0
    if case.startswith('bbox'):
        assert 'loss_bbox' in losses and 'loss_bbox' in ddp_grads[case]['losses']
    flat_ref = torch.cat([g.flatten() for g in ref.values()])
    flat_got = torch.cat([got[n].flatten() for n in ref])
    assert flat_ref.norm() > 0
    rel = ((flat_got - flat_ref).norm() / flat_ref.norm()).item()
    assert rel < 1e-5, f'{case}: DDP gradients differ from the full batch by {rel:.2e} (relative)'
    for n, g in ref.items():  # and parameter by parameter, relative to the whole gradient
        torch.testing.assert_close(got[n], g, rtol=1e-5, atol=1e-5 * flat_ref.abs().max().item(),
                                   msg=lambda m: f'{case} {n}: {m}')


def test_sync_bn_option_converts_every_batchnorm():
    """``sync_bn='torch'`` (config or ``--cfg-options sync_bn=torch``): what MMEngine's
    Runner does to the model before wrapping it in DDP; the configs default to plain BN."""
    from mmengine.config import Config
    from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm
    from torch.nn.modules.batchnorm import _BatchNorm

    assert Config.fromfile(CONFIG).sync_bn is None
    model = _build_model('plain').eval()
    num_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = model(x, None, mode='tensor')
    synced = convert_sync_batchnorm(model, 'torch')
    assert num_bn > 0 and sum(isinstance(m, torch.nn.SyncBatchNorm)
                              for m in synced.modules()) == num_bn
    with torch.no_grad():  # a single process (not distributed) reverts to BN: same outputs
        out = revert_sync_batchnorm(synced).eval()(x, None, mode='tensor')
    for a, b in zip(torch.utils._pytree.tree_leaves(ref), torch.utils._pytree.tree_leaves(out)):
        torch.testing.assert_close(a, b)


def test_sync_bn_on_cpu_ddp_is_refused_in_one_line(tmp_path):
    """torch's SyncBatchNorm runs on GPUs only: CPU (gloo) DDP training refuses it."""
    import subprocess
    env = dict(os.environ, OMP_NUM_THREADS='1', RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_free_port()), CUDA_VISIBLE_DEVICES='')
    res = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--launcher', 'pytorch',
                          '--work-dir', str(tmp_path), '--cfg-options', 'sync_bn=torch'],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "error: sync_bn='torch' needs GPUs (torch's SyncBatchNorm runs on CUDA devices only); "
        'on CPUs train with per-process BN (no sync_bn)')


# ------------------------------------------------ ChannelsLastHook under DDP (ERPoseRunner)
STRIDE_WARNING = 'strides do not match bucket view strides'


def _runner_cfg(data_root: str, work_dir: str, epochs: int, resume: bool):
    """The synthetic recipe on ``data_root`` (8 images, 2 per rank: 2 iterations an epoch),
    without validation and with a deterministic pipeline (no flip, no HSV), so a resumed
    run sees the images an uninterrupted one sees."""
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    pipeline = [dict(t, prob=0.0) if t['type'] == 'RandomFlip' else t
                for t in cfg.train_pipeline_stage2 if t['type'] != 'YOLOXHSVRandomAug']
    cfg.train_pipeline_stage1 = cfg.train_pipeline_stage2 = pipeline
    cfg.work_dir = work_dir
    cfg.resume = resume
    cfg.load_from = None
    ds = cfg.train_dataloader.dataset
    ds.data_root = data_root
    ds.pipeline = pipeline
    cfg.train_dataloader.update(batch_size=B, num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    return cfg


def _runner_worker(rank: int, port: int, runner_kind: str, data_root: str, work_dir: str,
                   epochs: int, resume: bool, out_file: str) -> None:
    import warnings

    import torch.distributed as dist
    from mmengine.runner import Runner
    from torch.nn.parallel import DistributedDataParallel

    from erpose_mm.compat import apply_stack_adapters
    from erpose_mm.engine.runner import ERPoseRunner
    from erpose_mm.engine.tool_run import setup_cpu_ddp

    apply_stack_adapters()  # what conftest does for the plain Runner's checkpoint loading
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE),
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    cfg = _runner_cfg(data_root, work_dir, epochs, resume)
    cfg.launcher = 'pytorch'
    assert setup_cpu_ddp(cfg, 'pytorch')
    try:
        runner = (ERPoseRunner if runner_kind == 'erpose' else Runner).from_cfg(cfg)
        assert isinstance(runner.model, DistributedDataParallel)
        convs = [p for p in runner.model.module.parameters() if p.dim() == 4]
        at_wrap = bool(convs) and all(p.is_contiguous(memory_format=torch.channels_last)
                                      for p in convs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            runner.train()
        convs = [p for p in runner.model.module.parameters() if p.dim() == 4]
        if rank == 0:
            torch.save(dict(
                channels_last_at_wrap=at_wrap,
                channels_last_after=all(p.is_contiguous(memory_format=torch.channels_last)
                                        for p in convs),
                warnings=[str(w.message) for w in caught],
                state_dict={k: v.detach().clone()
                            for k, v in runner.model.module.state_dict().items()}),
                out_file)
    finally:
        dist.destroy_process_group()


def _train_ddp(runner_kind, data_root, work_dir, epochs, resume=False):
    import torch.multiprocessing as mp
    out = osp.join(work_dir, f'result_{epochs}_{int(resume)}.pth')
    mp.spawn(_runner_worker, args=(_free_port(), runner_kind, data_root, work_dir, epochs,
                                   resume, out), nprocs=WORLD_SIZE, join=True)
    return torch.load(out)


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    from erpose_mm.datasets import generate_synthetic_coco
    root = tmp_path_factory.mktemp('syn')
    generate_synthetic_coco(str(root), num_train=8, num_val=4, seed=3, min_size=160,
                            max_size=224, difficulty='easy', progress=False)
    return str(root) + '/'


@pytest.mark.slow
def test_erpose_runner_converts_to_channels_last_before_ddp(tiny_data, tmp_path, capfd):
    """With ChannelsLastHook in custom_hooks, ERPoseRunner stores the weights channels_last
    before wrapping them in DDP: no stride mismatch between gradients and DDP's buckets
    during training, and the hook (finding them converted) does nothing."""
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    res = _train_ddp('erpose', tiny_data, str(tmp_path / 'erpose'), 1)
    captured = capfd.readouterr()
    assert res['channels_last_at_wrap'] and res['channels_last_after']
    text = '\n'.join(res['warnings']) + captured.out + captured.err
    assert STRIDE_WARNING not in text
    assert 'ChannelsLastHook' not in text


@pytest.mark.slow
def test_plain_runner_hook_converts_the_ddp_module_and_warns(tiny_data, tmp_path):
    """MMEngine's own Runner wraps first: the hook still converts the wrapped module (a
    plain Runner has no earlier place) and says why that is wrong under DDP."""
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    res = _train_ddp('plain', tiny_data, str(tmp_path / 'plain'), 1)
    assert not res['channels_last_at_wrap'] and res['channels_last_after']
    hook_warnings = [w for w in res['warnings'] if w.startswith('ChannelsLastHook:')]
    assert len(hook_warnings) == 1 and 'DistributedDataParallel' in hook_warnings[0]
    assert any(STRIDE_WARNING in w for w in res['warnings'])  # what ERPoseRunner avoids


@pytest.mark.slow
def test_resumed_ddp_run_ends_with_the_uninterrupted_weights(tiny_data, tmp_path):
    """2 epochs under 2-process DDP with ChannelsLastHook via ERPoseRunner, once straight
    through and once stopped after epoch 1 and resumed: the same final weights."""
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    straight = _train_ddp('erpose', tiny_data, str(tmp_path / 'straight'), 2)
    work = str(tmp_path / 'resumed')
    first = _train_ddp('erpose', tiny_data, work, 1)
    resumed = _train_ddp('erpose', tiny_data, work, 2, resume=True)
    for res in (straight, first, resumed):
        assert not any(STRIDE_WARNING in w for w in res['warnings'])
    ref, got = straight['state_dict'], resumed['state_dict']
    assert ref.keys() == got.keys()
    assert any(not torch.equal(first['state_dict'][k], ref[k]) for k in ref)  # epoch 2 trained
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=1e-6, msg=lambda m: f'{k}: {m}')
