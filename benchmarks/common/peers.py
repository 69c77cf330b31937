"""The optional peers environment (``benchmarks/setup_peers_env.sh`` -> ``.bench_venv``)
with Ultralytics, which runs in its own venv because PyPI's torchvision does not load beside
the project's torch."""
import os
import os.path as osp
import subprocess
from typing import Dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_PEERS_PYTHON = (os.environ.get('BENCH_PYTHON') or
                        osp.join(ROOT, '.bench_venv', 'bin', 'python'))


def peers_env(python: str, env: Dict[str, str]) -> Dict[str, str]:
    """``env`` for an Ultralytics worker: offline, with the venv's local-font config dir."""
    env = dict(env)
    env.setdefault('YOLO_CONFIG_DIR', osp.join(osp.dirname(osp.dirname(python)), 'yolo_config'))
    env.update(YOLO_OFFLINE='1', YOLO_VERBOSE='False')
    env.pop('PYTHONPATH', None)
    return env


def peers_versions(python: str) -> Dict[str, str]:
    """``{'ultralytics': ..., 'torch (peers venv)': ...}``, empty without the venv."""
    if not osp.isfile(python):
        return {}
    try:
        out = subprocess.run([python, '-c', 'import ultralytics, torch; '
                              'print(ultralytics.__version__, torch.__version__)'],
                             capture_output=True, text=True, timeout=180,
                             env=peers_env(python, dict(os.environ))).stdout.split()
        return {'ultralytics': out[-2], 'torch (peers venv)': out[-1]}
    except (OSError, subprocess.SubprocessError, IndexError):
        return {}
