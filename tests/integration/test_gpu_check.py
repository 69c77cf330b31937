"""benchmarks/gpu_check.sh without a GPU: its dry run (the commands of every step on the CUDA
route) and its --cpu-smoke mode (every step really run on the CPU, tiny), which must
produce the markdown report with all its sections."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'gpu_check.sh')


def gpu_check(*args, timeout=900):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(['bash', SCRIPT, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def commands(out):
    return [line[2:] for line in out.splitlines() if line.startswith('+ ')]


def test_dry_run_lists_every_step_of_the_cuda_route(tmp_path):
    work = str(tmp_path / 'w')
    res = gpu_check('--dry-run', '--work-dir', work, '--cuda', 'cu128', '--iters', '100',
                    '--peers-python', sys.executable)
    assert res.returncode == 0, res.stderr
    cmds = commands(res.stdout)
    py = f'{work}/venv/bin/python'
    assert f'env ERPOSE_VENV={work}/venv ERPOSE_CUDA=cu128 bash {REPO}/tools/install.sh' in cmds
    trains = [c for c in cmds if '/tools/train.py' in c]
    assert len(trains) == 2 and '--amp' not in trains[0] and ' --amp ' in trains[1]
    assert all(c.startswith(py) and 'train_dataloader.batch_size=32' in c for c in trains)
    assert all('train_cfg.max_epochs=1' in c for c in trains)
    data = next(c for c in cmds if 'make_synthetic_coco.py' in c)
    assert '--num-train 3200' in data      # 100 iterations x batch 32, one epoch
    assert any(c.startswith(py) and 'tools/test.py' in c and 'train_fp32/epoch_1.pth' in c
               for c in cmds)
    parity = next(c for c in cmds if ' parity ' in c)
    assert '--device cuda' in parity and 'train_fp32/epoch_1.pth' in parity
    assert '--ort-device cuda' in parity      # auto: the CUDA route installs onnxruntime-gpu
    peers = next(c for c in cmds if ' peers ' in c)
    assert 'YOLO_OFFLINE=1' in peers and sys.executable in peers
    latency = next(c for c in cmds if ' latency ' in c)
    assert 'erpose-n_coco-640.py none' in latency and f'--peers-json {work}/peers.json' in latency
    assert '--ort-device cuda' in latency
    tools = next(c for c in cmds if ' tools ' in c)
    assert tools.startswith(py) and '--device cuda --ort-device cuda' in tools
    speed = [c for c in cmds if '-m benchmarks.train_speed' in c]
    assert len(speed) == 2 and all('--device cuda' in c and '--batch 32' in c for c in speed)
    assert '--amp' not in speed[0] and ' --amp ' in speed[1]
    assert all(f'--bench-python {sys.executable}' in c for c in speed)
    loss = next(c for c in cmds if '-m benchmarks.loss_ops' in c)
    assert '--device cuda' in loss and f'--out {work}/loss_ops.md' in loss
    assert re.search(r' report --work-dir \S+ --mode cuda --speed-batch 32 --out '
                     r'\S+/gpu_check\.md', cmds[-1])
    assert not osp.exists(work)   # a dry run creates nothing


@pytest.mark.parametrize('args,message', [
    (['--bogus'], 'gpu_check.sh: error: unknown argument: --bogus (see --help)'),
    (['--iters', '0'], 'gpu_check.sh: error: --iters must be a positive integer, got 0'),
    (['--ort-device', 'gpu'], 'gpu_check.sh: error: --ort-device must be auto, cuda or cpu, got gpu'),
])
def test_bad_arguments_are_one_line(args, message):
    res = gpu_check(*args)
    assert res.returncode == 2 and res.stderr.strip() == message


def test_cpu_smoke_writes_the_report(tmp_path):
    """One --cpu-smoke run: it trains, evaluates, exports, times and runs the user tools
    on the CPU, and its report holds what those steps measured."""
    work = str(tmp_path / 'smoke')
    out = str(tmp_path / 'report.md')
    res = gpu_check('--cpu-smoke', '--work-dir', work, '--out', out,
                    '--peers-python', str(tmp_path / 'no_peers'))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    with open(out) as f:
        md = f.read()
    with open(osp.join(work, 'gpu_check.md')) as f:
        assert f.read() == md                                # --out is a copy of the report
    rows = [ln for ln in md.splitlines() if ln.startswith('|')]
    # training: one epoch of the smoke size (4 iterations), its checkpoint evaluated
    train_row = next(ln for ln in rows if ln.startswith('| fp32 |'))
    assert train_row.split('|')[2].strip() == '4'
    assert osp.isfile(osp.join(work, 'train_fp32', 'epoch_1.pth'))
    # parity: ORT fp32 reproduces the PyTorch reference, fp16 stays close
    parity = {ln.split('|')[1].strip(): float(ln.split('|')[3]) for ln in rows
              if ln.startswith('| ORT ')}
    assert set(parity) == {'ORT fp32 (cpu)', 'ORT fp16 (cpu)'}
    assert parity['ORT fp32 (cpu)'] < 1e-2 and parity['ORT fp16 (cpu)'] < 2.0
    # latency: ORT fp32, ORT fp16 and PyTorch fp32 timed, no peers without their python
    lat = next(ln for ln in rows if ln.startswith('| erpose-n |'))
    values = [float(v) for v in lat.strip('|').split('|')[1:] if v.strip() != '-']
    assert len(values) == 3 and all(v > 0 for v in values)
    assert 'Peers not timed' in md
    # the user tools: each ran on the CPU and the people counted are those it wrote
    tools = {ln.split('|')[1].strip().strip('`'): ln.split('|')[2:6] for ln in rows
             if ln.startswith('| `tools/')}
    assert set(tools) == {'tools/infer.py', 'tools/onnx_infer.py'}
    for name, (device, rc, _, people) in tools.items():
        pred = osp.join(work, 'tools', osp.basename(name)[:-3], 'predictions', 'people.jpg.json')
        with open(pred) as f:
            written = len(json.load(f))
        assert (device.strip(), rc.strip(), int(people)) == ('cpu', '0', written), name
    # the training step and the loss alone were measured for ER-Pose-n
    assert re.search(r'^\| erpose-n \| \d+\.\d{3} \| \d+\.\d{3} \| \d+ \| - \|$', md, re.M)
    assert '### Loss ops vs batch size' in md
    # a finished work dir is never overwritten (refused before any step runs)
    res = gpu_check('--cpu-smoke', '--work-dir', work)
    assert res.returncode == 2
    assert res.stderr.strip() == (f'gpu_check.sh: error: {work}/gpu_check.md exists: pass '
                                  'another --work-dir (nothing is overwritten)')
