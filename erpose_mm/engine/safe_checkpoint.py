"""Checkpoints that are never truncated, and a resume that survives a broken ``last_checkpoint``.

Two named adapters of MMEngine 0.10's checkpoint I/O, installed by :func:`install` (through
:func:`erpose_mm.compat.apply_stack_adapters`: ``ERPoseRunner`` applies it, a script that
trains with MMEngine's plain ``Runner`` calls it first):

* :func:`atomic_save_checkpoint` replaces ``mmengine.runner.checkpoint.save_checkpoint``
  (what ``Runner.save_checkpoint`` -- and so ``CheckpointHook``, incl. best checkpoints --
  calls). MMEngine serialises to memory and then opens the final path for writing, so a
  kill or a full disk during the write leaves a truncated ``epoch_N.pth`` under the final
  name, which ``--resume`` then fails on. Here a local checkpoint is written to a hidden
  temporary file in the same directory, flushed, fsync'ed and renamed over the final name
  with ``os.replace`` (atomic on POSIX and Windows): the final name holds either the old
  file or the complete new one. Other backends (``s3://``, ``pavi://``, ...) are passed to
  MMEngine's function unchanged.
* :func:`find_resumable_checkpoint` replaces ``find_latest_checkpoint`` where the Runner
  uses it (auto ``--resume``). MMEngine reads ``WORK_DIR/last_checkpoint`` and resumes
  from whatever it names: an empty file (the hook writes it non-atomically) makes it call
  ``resume('')``, a garbled one a missing path, both fail. Here, when the named file is
  missing, empty, or not a complete checkpoint, the newest complete checkpoint in the work
  dir is used and one log line says so.

Resuming needs the whole training state, not only the weights: a checkpoint without
``optimizer`` (MMEngine's best checkpoints, ``best_*.pth``, are saved without optimizer
and scheduler state) would replay the LR warm-up and lose the optimizer moments. The
fallback therefore only considers checkpoints that hold ``meta`` (epoch, iter),
``message_hub`` and ``optimizer`` -- plus ``param_schedulers`` / ``ema_state_dict`` when
the caller says the run has them (:func:`missing_training_state`); if none does, it
refuses (:class:`ResumeError`) rather than resuming from weights alone.
"""
import glob
import os
import os.path as osp
import uuid
import zipfile
from typing import List, Optional, Tuple

import torch
from mmengine.logging import print_log

_PATCHED = '_erpose_safe_checkpoint'


class ResumeError(FileNotFoundError):
    """``--resume`` found nothing complete to resume from; the message is one line."""


def _is_local(path: str) -> bool:
    return '://' not in str(path)


def atomic_save_checkpoint(checkpoint: dict, filename: str, file_client_args=None,
                           backend_args=None) -> None:
    """``mmengine.runner.checkpoint.save_checkpoint`` with an atomic local write.

    Args:
        checkpoint: the dict to ``torch.save``.
        filename: final path. Written as ``.NAME.PID.RANDOM.tmp`` in the same directory
            first, then renamed; the temporary file is removed when the write fails.
        file_client_args / backend_args: as MMEngine; given, or a non-local path, the
            write goes through MMEngine's original function.
    """
    if not _is_local(filename) or file_client_args is not None or backend_args is not None:
        return _ORIGINAL_SAVE(checkpoint, filename, file_client_args=file_client_args,
                              backend_args=backend_args)
    filename = str(filename)
    folder = osp.dirname(osp.abspath(filename))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(filename)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp, 'xb') as f:  # 'x': never reuse a file; default permissions (umask)
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a complete ``torch.save`` file: a zip archive (torch >= 1.6
    format) whose central directory -- written last, so a truncated file has none --
    lists the pickled object. Files in the legacy format are loaded to find out."""
    try:
        if not osp.isfile(path) or osp.getsize(path) == 0:
            return False
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return any(n.endswith('data.pkl') for n in z.namelist())
        torch.load(path, map_location='cpu', weights_only=False)
        return True
    except Exception:
        return False


def _load_lazily(path: str):
    """``torch.load`` on the CPU with the tensors memory-mapped (zip format), so that
    looking at a checkpoint's keys does not read its tensors."""
    try:
        return torch.load(path, map_location='cpu', weights_only=False, mmap=True)
    except RuntimeError:  # legacy (non-zip) format: no mmap
        return torch.load(path, map_location='cpu', weights_only=False)


def missing_training_state(path: str, param_schedulers: bool = False,
                           ema: bool = False) -> Optional[List[str]]:
    """What of the training state MMEngine's ``Runner.resume`` needs ``path`` lacks:
    ``[]`` when it holds it all, None when it is not a complete checkpoint.

    Always needed: ``meta`` with ``epoch`` and ``iter``, ``message_hub`` and
    ``optimizer``; ``param_schedulers`` when ``param_schedulers`` (the run has LR /
    momentum schedulers), ``ema_state_dict`` when ``ema`` (the run has an ``EMAHook``).
    """
    if not is_complete_checkpoint(path):
        return None
    try:
        ckpt = _load_lazily(path)
    except Exception:
        return None
    if not isinstance(ckpt, dict):
        return ['meta', 'message_hub', 'optimizer']  # a bare state dict
    meta = ckpt.get('meta')
    missing = [] if isinstance(meta, dict) and 'epoch' in meta and 'iter' in meta else \
        ['meta (epoch, iter)']
    needed = ['message_hub', 'optimizer'] + (['param_schedulers'] if param_schedulers else []) \
        + (['ema_state_dict'] if ema else [])
    return missing + [k for k in needed if k not in ckpt]


def newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The most recently written complete ``*.pth`` in ``work_dir`` (temporary files of
    :func:`atomic_save_checkpoint` are hidden and never considered); None if none."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*.pth'))
             if not osp.basename(p).startswith('.')]
    for p in sorted(paths, key=osp.getmtime, reverse=True):
        if is_complete_checkpoint(p):
            return p
    return None


def newest_resumable_checkpoint(work_dir: str, param_schedulers: bool = False,
                                ema: bool = False) -> Tuple[Optional[str], List[str]]:
    """(the most recently written complete ``*.pth`` of ``work_dir`` that holds the
    training state, or None; ``NAME (lacks PARTS)`` for each newer complete one skipped
    because it lacks some, e.g. a weights-only ``best_*.pth``)."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*.pth'))
             if not osp.basename(p).startswith('.')]
    skipped = []
    for p in sorted(paths, key=osp.getmtime, reverse=True):
        missing = missing_training_state(p, param_schedulers, ema)
        if missing == []:
            return p, skipped
        if missing:
            skipped.append(f'{osp.basename(p)} (lacks {", ".join(missing)})')
    return None, skipped


def find_resumable_checkpoint(path: str, param_schedulers: bool = False,
                              ema: bool = False) -> Optional[str]:
    """``find_latest_checkpoint(work_dir)`` that falls back to the newest complete
    checkpoint holding the training state (:func:`missing_training_state`) when
    ``last_checkpoint`` is missing, empty, garbled or names a missing, incomplete or
    weights-only file (one log line says why). None when the work dir has neither a
    ``last_checkpoint`` nor a complete checkpoint (a fresh run, as MMEngine).

    Raises:
        ResumeError: there is a ``last_checkpoint`` or a complete checkpoint, but no
            checkpoint with the training state to resume from (resuming from scratch
            would silently restart and overwrite the run; resuming from weights alone
            would replay the LR warm-up and lose the optimizer state).
    """
    save_file = osp.join(path, 'last_checkpoint')
    named = None
    if osp.exists(save_file):
        with open(save_file, 'rb') as f:
            named = f.read().decode('utf-8', errors='replace').strip()
        missing = missing_training_state(named, param_schedulers, ema) if named else None
        if missing == []:
            return named
        why = (f'{save_file} is empty' if not named else
               f'{save_file} names {named[:200]!r}, which is not a complete checkpoint'
               if missing is None else
               f'{save_file} names {named[:200]!r}, which lacks the training state '
               f'({", ".join(missing)})')
    else:
        why = f'{save_file} does not exist'
    newest, skipped = newest_resumable_checkpoint(path, param_schedulers, ema)
    skipped_note = f'; skipped {", ".join(skipped[:3])}' if skipped else ''
    if newest is None:
        if named is None and not skipped:
            print_log('Did not find last_checkpoint to be resumed.', logger='current')
            return None
        raise ResumeError(f'cannot resume: {why} and {path} holds no complete checkpoint '
                          f'(*.pth) with the training state{skipped_note} (a weights-only '
                          'checkpoint can start a run as load_from, not resume one)')
    print_log(f'resume: {why}{skipped_note}; resuming from the newest complete checkpoint '
              f'{newest}', logger='current', level=30)
    return newest


def install() -> bool:
    """Install both adapters (idempotent). Returns True when newly installed."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.runner.runner as runner_mod
    if getattr(ckpt_mod.save_checkpoint, _PATCHED, False):
        return False
    global _ORIGINAL_SAVE
    _ORIGINAL_SAVE = ckpt_mod.save_checkpoint
    setattr(atomic_save_checkpoint, _PATCHED, True)
    for mod in (ckpt_mod, runner_mod, runner_pkg):
        mod.save_checkpoint = atomic_save_checkpoint
    # the Runner calls the name it imported; other callers keep MMEngine's function
    runner_mod.find_latest_checkpoint = find_resumable_checkpoint
    return True


_ORIGINAL_SAVE = None
