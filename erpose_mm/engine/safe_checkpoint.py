"""Checkpoints that are never truncated, and a resume that survives a broken ``last_checkpoint``.

Two named adapters of MMEngine 0.10's checkpoint I/O, installed by :func:`install` (called
on ``import erpose_mm``, so MMPose's own tools get them too through the configs'
``custom_imports``):

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
"""
import glob
import os
import os.path as osp
import uuid
import zipfile
from typing import Optional

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


def newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The most recently written complete ``*.pth`` in ``work_dir`` (temporary files of
    :func:`atomic_save_checkpoint` are hidden and never considered); None if none."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*.pth'))
             if not osp.basename(p).startswith('.')]
    for p in sorted(paths, key=osp.getmtime, reverse=True):
        if is_complete_checkpoint(p):
            return p
    return None


def find_resumable_checkpoint(path: str) -> Optional[str]:
    """``find_latest_checkpoint(work_dir)`` that falls back to the newest complete
    checkpoint when ``last_checkpoint`` is missing, empty, garbled or names a missing or
    incomplete file (one log line says why). None when the work dir has no checkpoint
    and no ``last_checkpoint`` (a fresh run, as MMEngine).

    Raises:
        ResumeError: ``last_checkpoint`` exists but neither it nor any ``*.pth`` in
            the work dir is a complete checkpoint (resuming from scratch would silently
            restart and overwrite the run).
    """
    save_file = osp.join(path, 'last_checkpoint')
    named = None
    if osp.exists(save_file):
        with open(save_file, 'rb') as f:
            named = f.read().decode('utf-8', errors='replace').strip()
        if named and is_complete_checkpoint(named):
            return named
        why = (f'{save_file} is empty' if not named else
               f'{save_file} names {named[:200]!r}, which is not a complete checkpoint')
    else:
        why = f'{save_file} does not exist'
    newest = newest_complete_checkpoint(path)
    if newest is None:
        if named is None:
            print_log('Did not find last_checkpoint to be resumed.', logger='current')
            return None
        raise ResumeError(f'cannot resume: {why} and {path} holds no complete '
                                'checkpoint (*.pth)')
    print_log(f'resume: {why}; resuming from the newest complete checkpoint {newest}',
              logger='current', level=30)
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
