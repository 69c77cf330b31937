"""tools/gpu_check.sh without a GPU: its dry run (the commands of every step on the CUDA
route) and its --cpu-smoke mode (every step really run on the CPU, tiny), which must
produce the markdown report with all its sections."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'gpu_check.sh')


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
    speed = [c for c in cmds if 'benchmarks/train_speed.py' in c]
    assert len(speed) == 2 and all('--device cuda' in c and '--batch 32' in c for c in speed)
    assert '--amp' not in speed[0] and ' --amp ' in speed[1]
    assert all(f'--bench-python {sys.executable}' in c for c in speed)
    loss = next(c for c in cmds if 'benchmarks/loss_ops.py' in c)
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
    work = str(tmp_path / 'smoke')
    out = str(tmp_path / 'report.md')
    res = gpu_check('--cpu-smoke', '--work-dir', work, '--out', out,
                    '--peers-python', str(tmp_path / 'no_peers'))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    with open(out) as f:
        md = f.read()
    assert md.startswith('# GPU check (cpu-smoke)')
    for heading in ('## Training', '## Parity', '## Latency (cpu', '## User tools',
                    '## Training step without data loading', '## The training loss alone'):
        assert heading in md, heading
    tools = {ln.split('|')[1].strip(): ln.split('|')[2:6] for ln in md.splitlines()
             if ln.startswith('| `tools/')}
    assert set(tools) == {'`tools/infer.py`', '`tools/onnx_infer.py`'}
    for device, rc, wall, people in tools.values():   # ran on the CPU, wrote predictions
        assert (device.strip(), rc.strip()) == ('cpu', '0') and int(people) >= 0
    assert re.search(r'^\| erpose-n \| \d+\.\d{3} \| \d+\.\d{3} \| \d+ \| - \|$', md, re.M)
    assert '### Loss ops vs batch size' in md
    train_row = next(ln for ln in md.splitlines() if ln.startswith('| fp32 |'))
    assert train_row.split('|')[2].strip() == '4'          # iterations
    parity = {ln.split('|')[1].strip(): ln for ln in md.splitlines()
              if ln.startswith('| ORT ')}
    assert set(parity) == {'ORT fp32 (cpu)', 'ORT fp16 (cpu)'}
    # ORT fp32 reproduces the PyTorch reference; fp16 is close, and not identical
    fp32_err = float(parity['ORT fp32 (cpu)'].split('|')[3])
    fp16_err = float(parity['ORT fp16 (cpu)'].split('|')[3])
    assert fp32_err < 1e-2 and fp16_err < 2.0
    lat = next(ln for ln in md.splitlines() if ln.startswith('| erpose-n |'))
    values = [float(v) for v in lat.strip('|').split('|')[1:] if v.strip() != '-']
    assert len(values) == 3 and all(v > 0 for v in values)  # ORT fp32, fp16, PyTorch fp32
    assert 'Peers not timed' in md
    # a second run never overwrites the report
    res = gpu_check('--cpu-smoke', '--work-dir', work)
    assert res.returncode == 2
    assert res.stderr.strip() == (f'gpu_check.sh: error: {work}/gpu_check.md exists: pass '
                                  'another --work-dir (nothing is overwritten)')
    # without its report, the same work dir is continued: finished training reused; a
    # failing peers environment is a note in the report, not the end of the check
    os.remove(osp.join(work, 'gpu_check.md'))
    runs_before = sorted(os.listdir(osp.join(work, 'train_fp32')))
    bad_peers = tmp_path / 'bad_python'
    bad_peers.write_text('#!/bin/sh\necho "no ultralytics here" >&2\nexit 1\n')
    bad_peers.chmod(0o755)
    res = gpu_check('--cpu-smoke', '--work-dir', work, '--peers-python', str(bad_peers))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f'train fp32: done before ({work}/train_fp32.json), reused' in res.stdout
    assert sorted(os.listdir(osp.join(work, 'train_fp32'))) == runs_before   # not trained again
    with open(osp.join(work, 'gpu_check.md')) as f:
        md = f.read()
    assert '## Notes' in md and f'- peers step failed with {bad_peers}' in md
    assert '| ORT fp32 (cpu) |' in md and 'Peers not timed' in md
