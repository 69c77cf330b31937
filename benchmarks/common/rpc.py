"""JSON-lines RPC between a benchmark script and its worker subprocesses.

The Ultralytics peers live in another venv (``benchmarks/setup_peers_env.sh``), so the
speed benchmarks (``benchmarks.latency``, ``benchmarks.train_speed``) re-run themselves
there (``python -m MODULE --worker KIND`` from the repository root, whose ``benchmarks``
and ``erpose_mm`` it imports) and talk over stdin/stdout.
"""
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def serve(handlers: Dict[str, Callable]) -> None:
    """Worker side: answer ``{"cmd": name, **kwargs}`` lines with ``handlers[name](**kwargs)``.

    Replies go to the real stdout; anything the libraries print is redirected to stderr.
    """
    proto = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop('cmd')
        if cmd == 'quit':
            break
        try:
            if cmd not in handlers:
                raise ValueError(f'unknown command {cmd!r}')
            proto.write(json.dumps(dict(ok=True, out=handlers[cmd](**msg))) + '\n')
        except Exception as e:  # report and keep serving
            import traceback
            traceback.print_exc()
            proto.write(json.dumps(dict(ok=False, err=f'{type(e).__name__}: {e}')) + '\n')
        proto.flush()


class WorkerProxy:
    """Main-process handle on ``python -m module --worker kind`` (a subprocess run in the
    repository root)."""

    def __init__(self, python: str, module: str, kind: str, log_file: str) -> None:
        env = dict(os.environ)
        env.pop('PYTHONPATH', None)
        if osp.realpath(python) != osp.realpath(sys.executable):
            # the peers venv: Ultralytics offline, with the local font in its config dir
            env.setdefault('YOLO_CONFIG_DIR', osp.join(osp.dirname(osp.dirname(python)),
                                                       'yolo_config'))
            env['YOLO_OFFLINE'] = '1'
        self.log = open(log_file, 'w')
        self.p = subprocess.Popen([python, '-m', module, '--worker', kind],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                  text=True, env=env, cwd=ROOT)

    def call(self, cmd: str, **kw):
        self.p.stdin.write(json.dumps(dict(cmd=cmd, **kw)) + '\n')
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f'worker died (see {self.log.name})')
        msg = json.loads(line)
        if not msg['ok']:
            raise RuntimeError(f'worker: {msg["err"]} (see {self.log.name})')
        return msg['out']

    def close(self) -> None:
        try:
            self.p.stdin.write(json.dumps(dict(cmd='quit')) + '\n')
            self.p.stdin.flush()
            self.p.wait(30)
        except Exception:
            self.p.kill()
        self.log.close()
