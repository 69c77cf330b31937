"""Nothing is lost or truncated: atomic checkpoint writes, resume past a broken last_checkpoint."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch

import erpose_mm  # noqa: F401  (installs the adapters)
from erpose_mm.engine.safe_checkpoint import (ResumeError, atomic_save_checkpoint,
                                              find_resumable_checkpoint,
                                              is_complete_checkpoint)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')


def _ckpt(value: float, training_state: bool = True) -> dict:
    """A checkpoint as CheckpointHook writes it; ``training_state=False``: as a best
    checkpoint (``best_*.pth``: no optimizer or scheduler state)."""
    ckpt = dict(meta=dict(epoch=int(value), iter=2 * int(value)), message_hub={},
                state_dict=dict(w=torch.full((256, 256), value)))
    if training_state:
        ckpt.update(optimizer=dict(state={}, param_groups=[]), param_schedulers=[])
    return ckpt


def test_the_runner_writes_checkpoints_atomically():
    import mmengine.runner.runner as runner_mod
    # Runner.save_checkpoint (CheckpointHook, best checkpoints) calls this module's name
    assert runner_mod.save_checkpoint is atomic_save_checkpoint
    assert runner_mod.find_latest_checkpoint is find_resumable_checkpoint


@pytest.mark.slow
def test_a_kill_during_the_write_leaves_the_old_checkpoint(tmp_path):
    """A process killed (SIGKILL) in the middle of torch.save, through the function the
    Runner calls: the final name still holds the previous, complete checkpoint."""
    path = str(tmp_path / 'epoch_1.pth')
    script = textwrap.dedent(f'''
        import os, signal, sys
        import torch
        import erpose_mm
        erpose_mm.compat.apply_stack_adapters()  # what ERPoseRunner applies
        import mmengine.runner.runner as runner_mod
        ckpt = lambda v: dict(meta=dict(epoch=int(v), iter=0), message_hub=dict(), optimizer=dict(),
                              state_dict=dict(w=torch.full((256, 256), v)))
        runner_mod.save_checkpoint(ckpt(1.0), {path!r})
        real_save = torch.save
        def dying_save(obj, f, *a, **k):
            f.write(b'PK\\x03\\x04 half a checkpoint')
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        runner_mod.save_checkpoint(ckpt(2.0), {path!r})
    ''')
    # cwd: the checkout's erpose_mm (``-c`` puts the working directory first on sys.path)
    p = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -9, p.stderr[-2000:]
    assert is_complete_checkpoint(path)
    assert torch.load(path, weights_only=False)['meta']['epoch'] == 1
    leftovers = [f for f in os.listdir(tmp_path) if f != 'epoch_1.pth']
    assert len(leftovers) == 1 and leftovers[0].startswith('.epoch_1.pth.')  # hidden tmp
    # and the resume fallback never picks the hidden temporary file
    assert find_resumable_checkpoint(str(tmp_path)) == path


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    atomic_save_checkpoint(_ckpt(1.0), path)

    def failing_save(obj, f, *args, **kwargs):
        f.write(b'partial')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(torch, 'save', failing_save)
    with pytest.raises(OSError, match='No space left'):
        atomic_save_checkpoint(_ckpt(2.0), path)
    assert os.listdir(tmp_path) == ['epoch_1.pth']
    assert torch.load(path, weights_only=False)['meta']['epoch'] == 1


def _work_dir(tmp_path, last_checkpoint):
    work = tmp_path / 'work'
    work.mkdir()
    atomic_save_checkpoint(_ckpt(1.0), str(work / 'epoch_1.pth'))
    atomic_save_checkpoint(_ckpt(2.0), str(work / 'epoch_2.pth'))
    os.utime(work / 'epoch_1.pth', (1, 1))  # epoch_2 is the newest
    raw = (work / 'epoch_2.pth').read_bytes()
    (work / 'epoch_3.pth').write_bytes(raw[:len(raw) // 2])  # truncated, written last
    if last_checkpoint is not None:
        (work / 'last_checkpoint').write_bytes(last_checkpoint.replace(
            b'WORK', str(work).encode()))
    return str(work)


@pytest.mark.parametrize('content, why', [
    (b'', 'is empty'),
    (b'\x00\xff\xfe garbled', 'which is not a complete checkpoint'),
    (b'WORK/epoch_9.pth', "names '"),
    (b'WORK/epoch_3.pth', 'epoch_3.pth'),        # names the truncated one
    (None, 'does not exist'),
])
def test_broken_last_checkpoint_falls_back_to_the_newest_complete(tmp_path, content, why,
                                                                   monkeypatch):
    import erpose_mm.engine.safe_checkpoint as mod
    logs = []
    monkeypatch.setattr(mod, 'print_log', lambda msg, **kw: logs.append(msg))
    work = _work_dir(tmp_path, content)
    assert find_resumable_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    assert len(logs) == 1 and why in logs[0]
    assert logs[0].endswith(f'resuming from the newest complete checkpoint '
                            f'{osp.join(work, "epoch_2.pth")}')


def test_a_valid_last_checkpoint_is_used_as_is(tmp_path):
    work = _work_dir(tmp_path, b'WORK/epoch_1.pth\n')
    assert find_resumable_checkpoint(work) == osp.join(work, 'epoch_1.pth')


def test_weights_only_checkpoints_are_never_resumed(tmp_path, monkeypatch):
    """A best checkpoint (weights only) newer than the last full one, last_checkpoint
    naming a deleted epoch_2.pth: the full epoch_1.pth is resumed, the best one skipped."""
    import erpose_mm.engine.safe_checkpoint as mod
    from erpose_mm.engine.safe_checkpoint import missing_training_state
    logs = []
    monkeypatch.setattr(mod, 'print_log', lambda msg, **kw: logs.append(msg))
    work = tmp_path / 'work'
    work.mkdir()
    atomic_save_checkpoint(_ckpt(1.0), str(work / 'epoch_1.pth'))
    os.utime(work / 'epoch_1.pth', (1, 1))
    best = str(work / 'best_coco_AP_epoch_2.pth')
    atomic_save_checkpoint(_ckpt(2.0, training_state=False), best)
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    assert missing_training_state(best) == ['optimizer']
    assert missing_training_state(best, param_schedulers=True, ema=True) == [
        'optimizer', 'param_schedulers', 'ema_state_dict']
    assert missing_training_state(str(work / 'epoch_1.pth'), param_schedulers=True) == []
    assert missing_training_state(str(work / 'epoch_2.pth')) is None
    assert find_resumable_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    assert len(logs) == 1 and 'skipped best_coco_AP_epoch_2.pth (lacks optimizer)' in logs[0]
    # last_checkpoint naming the weights-only file: the same fallback
    (work / 'last_checkpoint').write_text(best)
    assert find_resumable_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    assert 'which lacks the training state (optimizer)' in logs[-1]
    # only weights-only checkpoints: refused, even without a last_checkpoint
    os.remove(work / 'epoch_1.pth')
    for last in (True, False):
        if not last:
            os.remove(work / 'last_checkpoint')
        with pytest.raises(ResumeError, match=r'holds no complete checkpoint \(\*\.pth\) with '
                           r'the training state; skipped best_coco_AP_epoch_2.pth \(lacks '
                           r'optimizer\)') as err:
            find_resumable_checkpoint(str(work))
        assert '\n' not in str(err.value)


def test_nothing_to_resume(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path)) is None  # a fresh run, as MMEngine
    (tmp_path / 'last_checkpoint').write_text('')
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(ResumeError, match='cannot resume: .*last_checkpoint is empty and .* '
                       r'holds no complete checkpoint \(\*\.pth\)'):
        find_resumable_checkpoint(str(tmp_path))


@pytest.mark.slow
def test_train_resume_with_an_empty_last_checkpoint(tmp_path):
    """tools/train.py --resume after a crash that emptied last_checkpoint and truncated the
    newest checkpoint: it continues from the newest complete one and says so."""
    from erpose_mm.datasets import generate_synthetic_coco
    data = str(tmp_path / 'data') + '/'
    generate_synthetic_coco(data, num_train=8, num_val=2, seed=3, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.0, progress=False)
    work = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=str(tmp_path / 'cache'))

    def train(epochs, *extra):
        opts = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=4',
                f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1']
        p = subprocess.run([sys.executable, 'tools/train.py', CFG, '--work-dir', work,
                            '--no-validate', *extra, '--cfg-options', *opts], cwd=REPO,
                           capture_output=True, text=True, timeout=600, env=env)
        return p.returncode, p.stdout + p.stderr

    rc, out = train(2)
    assert rc == 0, out[-3000:]
    raw = open(osp.join(work, 'epoch_2.pth'), 'rb').read()
    with open(osp.join(work, 'epoch_2.pth'), 'wb') as f:
        f.write(raw[:len(raw) // 3])             # what MMEngine's own write could leave
    open(osp.join(work, 'last_checkpoint'), 'w').close()
    rc, out = train(3, '--resume')
    assert rc == 0, out[-3000:]
    assert (f'resuming from the newest complete checkpoint {osp.join(work, "epoch_1.pth")}'
            in out)
    assert 'resumed epoch: 1, iter: 2' in out
    assert torch.load(osp.join(work, 'epoch_3.pth'), weights_only=False)['meta']['epoch'] == 3
    # an explicit truncated --resume path is refused with one line
    with open(osp.join(work, 'epoch_2.pth'), 'wb') as f:
        f.write(raw[:100])
    rc, out = train(4, '--resume', osp.join(work, 'epoch_2.pth'))
    assert rc == 2 and 'Traceback' not in out
    assert f'error: --resume {osp.join(work, "epoch_2.pth")}: not a complete checkpoint' in out


def _lr_at(out: str, epoch: int, it: int) -> str:
    import re
    m = re.search(rf'Epoch\(train\) \[{epoch}\]\[{it}/\d+\].*?\blr: (\S+)', out)
    assert m, out[-3000:]
    return m.group(1)


@pytest.mark.slow
def test_train_resume_skips_a_weights_only_checkpoint(tmp_path):
    """last_checkpoint names a deleted epoch_2.pth and a best checkpoint (weights only) is
    the newest file: --resume continues from epoch_1.pth with its optimizer and scheduler
    state (the LR goes on, no warm-up replay; AdamW's step count goes on), and an explicit
    --resume of the weights-only file is refused with one line."""
    from erpose_mm.datasets import generate_synthetic_coco
    data = str(tmp_path / 'data') + '/'
    generate_synthetic_coco(data, num_train=8, num_val=2, seed=3, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.0, progress=False)
    work = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=str(tmp_path / 'cache'))

    def train(epochs, *extra):
        opts = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=4',
                f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1',
                'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=1']
        p = subprocess.run([sys.executable, 'tools/train.py', CFG, '--work-dir', work,
                            '--no-validate', *extra, '--cfg-options', *opts], cwd=REPO,
                           capture_output=True, text=True, timeout=600, env=env)
        return p.returncode, p.stdout + p.stderr, p.stderr

    rc, first, _ = train(3)
    assert rc == 0, first[-3000:]
    epoch_2 = osp.join(work, 'epoch_2.pth')
    full = torch.load(epoch_2, weights_only=False)
    # what CheckpointHook's save_best writes: no optimizer, no scheduler state
    best = osp.join(work, 'best_coco_AP_epoch_2.pth')
    torch.save({k: v for k, v in full.items() if k not in ('optimizer', 'param_schedulers')},
               best)
    os.remove(epoch_2)
    os.remove(osp.join(work, 'epoch_3.pth'))
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(epoch_2)
    rc, out, _ = train(3, '--resume')
    assert rc == 0, out[-3000:]
    assert 'skipped best_coco_AP_epoch_2.pth (lacks optimizer, param_schedulers)' in out
    assert f'resuming from the newest complete checkpoint {osp.join(work, "epoch_1.pth")}' in out
    assert 'resumed epoch: 1, iter: 2' in out
    for epoch, it in ((2, 1), (2, 2), (3, 1)):   # the schedule goes on where it was
        assert _lr_at(out, epoch, it) == _lr_at(first, epoch, it)
    assert float(_lr_at(out, 2, 1)) > 10 * float(_lr_at(first, 1, 1))  # not the warm-up
    steps = {float(s['step']) for s in
             torch.load(epoch_2, weights_only=False)['optimizer']['state'].values()}
    assert steps == {4.0}  # 2 iterations of epoch 1 (resumed) + 2 of epoch 2
    # an explicit weights-only checkpoint: one line naming it and what it lacks
    rc, out, err = train(4, '--resume', best)
    assert rc == 2 and 'Traceback' not in out
    assert err.strip().splitlines()[-1] == (
        f'error: cannot resume from {best}: it lacks the training state (optimizer, '
        'param_schedulers); a weights-only checkpoint (e.g. best_*.pth) can start a run as '
        'load_from, not resume one')
    assert [line for line in out.splitlines() if 'error: ' in line] == [
        err.strip().splitlines()[-1]]
