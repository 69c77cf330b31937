"""tools/slurm_train.sh / slurm_test.sh: the srun command lines they generate (a fake
``srun`` on PATH records its arguments), and the ``--launcher slurm`` path on CPU: a fake
``srun`` starts the tasks with Slurm's variables, a fake ``scontrol`` resolves the node
list, and the tasks form a gloo group (erpose_mm/compat.py) and train with CPU DDP."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')

FAKE_SRUN = textwrap.dedent('''\
    #!/usr/bin/env python3
    """Fake srun: record the arguments; with FAKE_SRUN_EXEC=1 also start --ntasks copies
    of the command on this machine with the variables srun sets."""
    import json, os, subprocess, sys
    args = sys.argv[1:]
    with open(os.environ['FAKE_SRUN_LOG'], 'w') as f:
        json.dump(dict(args=args, pythonpath=os.environ.get('PYTHONPATH', '')), f)
    if os.environ.get('FAKE_SRUN_EXEC') != '1':
        sys.exit(0)
    opts, i = {}, 0
    while args[i].startswith('-'):
        key, _, val = args[i].partition('=')
        if not val and key in ('-p', '--partition'):
            i += 1
            val = args[i]
        opts[key] = val
        i += 1
    cmd, n = args[i:], int(opts['--ntasks'])
    procs = [subprocess.Popen(cmd, env=dict(os.environ, SLURM_PROCID=str(r), SLURM_NTASKS=str(n),
                                            SLURM_LOCALID=str(r), SLURM_NODELIST='cpu-node[01-02]'))
             for r in range(n)]
    sys.exit(max(p.wait() for p in procs))
    ''')
FAKE_SCONTROL = textwrap.dedent('''\
    #!/bin/sh
    # fake scontrol: "scontrol show hostname LIST" -> one host per line
    [ "$1 $2" = "show hostname" ] || exit 1
    echo 127.0.0.1
    echo 127.0.0.2
    ''')


@pytest.fixture
def fake_slurm(tmp_path):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    log = tmp_path / 'srun.json'
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('GPUS', 'CPUS_PER_TASK', 'SRUN_ARGS', 'SLURM_'))}
    env.update(PATH=f'{bindir}:{os.environ["PATH"]}', FAKE_SRUN_LOG=str(log),
               PYTHON=sys.executable, PYTHONPATH='/opt/site')
    return env, log


def srun_call(env, log, script, *args, **extra_env):
    import json
    res = subprocess.run(['bash', osp.join(REPO, 'tools', script), *args], cwd=REPO,
                         env=dict(env, **extra_env), capture_output=True, text=True,
                         timeout=600)
    return res, (json.loads(log.read_text()) if log.exists() else None)


def test_slurm_train_command_line(fake_slurm):
    env, log = fake_slurm
    res, call = srun_call(env, log, 'slurm_train.sh', 'gpu', 'erpose-s', CFG, 'work_dirs/x',
                          '--amp', '--cfg-options', 'train_cfg.max_epochs=3',
                          GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='6',
                          SRUN_ARGS='--time=2:00:00 --qos=high')
    assert res.returncode == 0, res.stderr
    assert call['args'] == [
        '-p', 'gpu', '--job-name=erpose-s', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=6', '--kill-on-bad-exit=1',
        '--time=2:00:00', '--qos=high',
        sys.executable, '-u', osp.join(REPO, 'tools', 'train.py'), CFG,
        '--work-dir=work_dirs/x', '--launcher=slurm', '--amp', '--cfg-options',
        'train_cfg.max_epochs=3']
    assert call['pythonpath'] == f'{osp.join(REPO, "tools")}/..:/opt/site'


def test_slurm_defaults_fit_small_jobs(fake_slurm):
    env, log = fake_slurm
    res, call = srun_call(env, log, 'slurm_train.sh', 'p', 'j', CFG, 'wd', GPUS='2')
    assert res.returncode == 0, res.stderr
    # MMPose's defaults (8 per node, 5 CPUs); a 2-GPU job asks for 2 GPUs on one node
    assert call['args'][:8] == ['-p', 'p', '--job-name=j', '--gres=gpu:2', '--ntasks=2',
                                '--ntasks-per-node=2', '--cpus-per-task=5',
                                '--kill-on-bad-exit=1']
    res, call = srun_call(env, log, 'slurm_train.sh', 'p', 'j', CFG, 'wd')
    assert call['args'][3:6] == ['--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8']


def test_slurm_test_command_line_and_errors(fake_slurm, tmp_path):
    env, log = fake_slurm
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'x')
    res, call = srun_call(env, log, 'slurm_test.sh', 'gpu', 'ev', CFG, str(ckpt),
                          '--out-json', 'preds', GPUS='4')
    assert res.returncode == 0, res.stderr
    assert call['args'][3:6] == ['--gres=gpu:4', '--ntasks=4', '--ntasks-per-node=4']
    assert call['args'][8:] == [sys.executable, '-u', osp.join(REPO, 'tools', 'test.py'), CFG,
                                str(ckpt), '--launcher=slurm', '--out-json', 'preds']
    log.unlink()
    res, call = srun_call(env, log, 'slurm_test.sh', 'gpu', 'ev', CFG, str(tmp_path / 'no.pth'))
    assert res.returncode == 2 and call is None
    assert res.stderr.strip() == f'error: {tmp_path / "no.pth"}: checkpoint not found'
    res, call = srun_call(env, log, 'slurm_train.sh', 'gpu', 'ev')
    assert res.returncode == 2 and call is None and res.stderr.startswith('usage:')


def test_set_env_from_slurm_reads_slurm_variables(fake_slurm):
    env, _ = fake_slurm
    code = ('import os; from erpose_mm.compat import set_env_from_slurm; set_env_from_slurm(); '
            'print(*[os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", '
            '"MASTER_PORT")])')
    env = {k: v for k, v in env.items() if k not in ('MASTER_ADDR', 'MASTER_PORT', 'RANK',
                                                       'WORLD_SIZE', 'LOCAL_RANK')}
    res = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         env=dict(env, SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1',
                                  SLURM_NODELIST='cpu-node[01-02]', PYTHONPATH=REPO),
                         timeout=120)
    assert res.returncode == 0, res.stderr
    # the first host of the node list (scontrol), MMEngine's default port
    assert res.stdout.split() == ['5', '8', '1', '127.0.0.1', '29500']


def test_slurm_launcher_trains_two_tasks_on_cpu(fake_slurm, tmp_path):
    pytest.importorskip('mmpose')
    from erpose_mm.datasets import generate_synthetic_coco
    data = tmp_path / 'syn'
    generate_synthetic_coco(str(data), num_train=8, num_val=4, seed=3, min_size=160,
                            max_size=224, difficulty='easy', progress=False)
    root = f'{data}/'
    env, log = fake_slurm
    work = str(tmp_path / 'work')
    opts = ['--cfg-options', f'data_root={root}', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={root}annotations/person_keypoints_val.json',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
            'train_cfg.val_interval=1', 'default_hooks.logger.interval=1']
    res, call = srun_call(env, log, 'slurm_train.sh', 'cpu', 'erpose-cpu', CFG, work, *opts,
                          GPUS='2', FAKE_SRUN_EXEC='1', MASTER_PORT='29547',
                          OMP_NUM_THREADS='1')
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert 'coco/AP' in out
