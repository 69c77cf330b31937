"""A JSON result cache keyed by what a result depends on, safe for concurrent rows and for
several benchmark processes sharing one file, resumable after a kill (written atomically
after every finished row)."""
import fcntl
import hashlib
import json
import os
import os.path as osp
import threading
from typing import Dict, Iterable, Optional


def content_hash(root: str, paths: Iterable[str], extra: object = None, n: int = 12) -> str:
    """Short sha256 over the contents of ``paths`` (files, or folders: their ``*.py`` files,
    sorted), relative to ``root``, plus ``json.dumps(extra)``."""
    h = hashlib.sha256()
    files = []
    for p in paths:
        full = osp.join(root, p)
        if osp.isdir(full):
            for d, _, fs in os.walk(full):
                files += [osp.join(d, f) for f in fs if f.endswith('.py')]
        elif osp.isfile(full):
            files.append(full)
        else:
            raise FileNotFoundError(f'content_hash: {full} does not exist')
    for f in sorted(files):
        h.update(osp.relpath(f, root).encode())
        with open(f, 'rb') as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:n]


def result_key(row: str, seed: int, budget: dict, code: str) -> str:
    """Cache key of one trained row: row name, seed, a hash of the budget, the code hash."""
    b = hashlib.sha256(json.dumps(budget, sort_keys=True).encode()).hexdigest()[:10]
    return f'{row}|seed{seed}|budget-{b}|code-{code}'


class ResultCache:
    """``{key: result}`` in one JSON file; ``put`` rewrites it atomically (tmp + rename).

    ``put`` holds an exclusive lock on ``<path>.lock`` and merges the entries another process
    wrote since this one loaded the file, so two benchmark runs on one cache keep both rows.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: Dict[str, dict] = {}
        self.data = self._read()

    def _read(self) -> Dict[str, dict]:
        if not osp.isfile(self.path):
            return {}
        with open(self.path) as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as e:
                raise SystemExit(f'{self.path}: not valid JSON ({e}); move it away to start over')

    def get(self, key: str) -> Optional[dict]:
        r = self.data.get(key)
        return r if r and r.get('status') == 'ok' else None

    def put(self, key: str, value: dict) -> None:
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        with self.lock, open(self.path + '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # rows other processes finished meanwhile win over this process's older copy
            merged = {**self.data, **self._read(), key: value}
            self.data = merged
            tmp = f'{self.path}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(self.data, f, indent=1)
            os.replace(tmp, self.path)
