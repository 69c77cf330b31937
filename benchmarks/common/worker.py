"""Running one benchmark row in its own worker process, on a frozen copy of the code.

A row is a subprocess ``python SCRIPT --worker KIND --spec SPEC.json`` that writes
``worker_result.json`` into its row folder; its stdout/stderr go to ``worker.log`` there.
Long runs execute on a *snapshot* of the code (``snapshot_code``): files edited in the
working tree while a run is going do not change what the remaining rows train.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
from typing import Dict, Iterable, List, Optional

from .cache import content_hash


def snapshot_code(root: str, dest_parent: str, paths: Iterable[str],
                  extra: object = None) -> (str, str):
    """Copy ``paths`` (relative to ``root``) to ``dest_parent/<hash>/``; return (dir, hash).

    The hash is :func:`content_hash` of the copied ``*.py`` files plus ``extra``, so one
    snapshot folder is reused by every run of the same code.
    """
    paths = list(paths)
    h = content_hash(root, paths, extra)
    dest = osp.join(dest_parent, h)
    if not osp.isfile(osp.join(dest, '.complete')):
        shutil.rmtree(dest, ignore_errors=True)
        for p in paths:
            src = osp.join(root, p)
            if osp.isdir(src):
                shutil.copytree(src, osp.join(dest, p), ignore=shutil.ignore_patterns(
                    '__pycache__', '*.pyc'))
            else:
                os.makedirs(osp.dirname(osp.join(dest, p)), exist_ok=True)
                shutil.copy2(src, osp.join(dest, p))
        # the snapshot must hash like the tree it came from
        if content_hash(dest, paths, extra) != h:
            raise RuntimeError(f'snapshot {dest}: files changed while copying; run again')
        open(osp.join(dest, '.complete'), 'w').close()
    return dest, h


def run_worker(cmd: List[str], row_dir: str, env: Dict[str, str], cwd: str,
               timeout: Optional[float] = None) -> dict:
    """Run ``cmd`` (it must write ``row_dir/worker_result.json``); return that dict.

    Raises RuntimeError with the log's tail when the process fails or times out.
    """
    logf = osp.join(row_dir, 'worker.log')
    res_f = osp.join(row_dir, 'worker_result.json')
    if osp.exists(res_f):
        os.remove(res_f)
    with open(logf, 'w') as lf:
        try:
            p = subprocess.run(cmd, cwd=cwd, env=env, stdout=lf, stderr=subprocess.STDOUT,
                               timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = 'timeout'
    if rc != 0 or not osp.isfile(res_f):
        with open(logf, errors='replace') as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'worker failed (rc={rc}), log {logf}:\n{tail}')
    with open(res_f) as f:
        return json.load(f)


def write_worker_result(out_dir: str, result: dict) -> None:
    """Worker side: the result the main process reads back (written last, atomically)."""
    tmp = osp.join(out_dir, 'worker_result.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, osp.join(out_dir, 'worker_result.json'))
