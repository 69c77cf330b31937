"""Device options of the speed benchmarks (benchmarks.train_speed, benchmarks.loss_ops):
GPU stage times are taken between synchronisations, and asking for a GPU or for float16 AMP
where there is none is a one-line error."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from benchmarks.speed.train_step_common import StageTimer, device_sync

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def test_stage_timer_synchronises_around_each_wrapped_call():
    calls = []
    timer = StageTimer(lambda: calls.append('sync'))
    fn = timer.wrap('head', lambda x: calls.append(f'run {x}') or x * 2)
    assert fn(3) == 6 and fn(4) == 8
    assert calls == ['sync', 'run 3', 'sync', 'sync', 'run 4', 'sync']
    assert set(timer.pop()) == {'head'} and timer.pop() == {}


def test_device_sync_is_cuda_synchronize_on_a_gpu_only():
    assert device_sync('cuda:0') is torch.cuda.synchronize
    assert device_sync('cuda') is torch.cuda.synchronize
    assert device_sync('cpu')() is None


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
@pytest.mark.parametrize('module,args,message', [
    ('benchmarks.train_speed', ['--device', 'cuda', '--no-write'],
     f'error: --device cuda: torch {torch.__version__} sees no GPU'),
    ('benchmarks.train_speed', ['--amp', '--no-write'],
     'error: --amp is float16 mixed precision on a GPU (--device cuda)'),
    ('benchmarks.loss_ops', ['--device', 'cuda'],
     f'error: --device cuda: torch {torch.__version__} sees no GPU'),
])
def test_gpu_options_without_a_gpu_are_one_line_errors(module, args, message):
    res = run('-m', module, *args)
    assert res.returncode == 1 and res.stderr.strip().splitlines()[-1] == message
