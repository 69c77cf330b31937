"""Machine notes for benchmark reports: CPU model and ISA flags (``lscpu``), load, threads."""
import os
from typing import Dict


def loadavg() -> float:
    """1-minute load average (nan where the OS does not report it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float('nan')


def timed_steps(step, n: int) -> list:
    """``n`` calls of ``step()`` (each returns a dict of times), each tagged with the load
    average at its end: the measurement loop every timing benchmark runs."""
    out = []
    for _ in range(n):
        r = step()
        r['load'] = loadavg()
        out.append(r)
    return out


def cpu_info() -> Dict[str, object]:
    """:func:`erpose_mm.utils.machine.cpu_info`, imported on use: the peers' workers import
    this module in an environment without erpose_mm."""
    from erpose_mm.utils.machine import cpu_info as info
    return info()


def cpu_line(info: Dict[str, object] = None) -> str:
    """:func:`erpose_mm.utils.machine.cpu_line` (one report line naming the CPU)."""
    from erpose_mm.utils.machine import cpu_line as line
    return line(info)


def thread_env(threads: int, base: Dict[str, str] = None) -> Dict[str, str]:
    """Environment for a worker limited to ``threads`` OpenMP / MKL threads.

    ``OMP_WAIT_POLICY=PASSIVE``: on a busy 2-core machine, spinning OpenMP threads made a
    2-thread training step 5-30x slower; sleeping threads cost little on a quiet machine.
    """
    env = dict(os.environ if base is None else base)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONUNBUFFERED='1')
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


def log(*a) -> None:
    """Progress line on stderr (stdout carries the tables / the worker protocol)."""
    import sys
    print(*a, file=sys.stderr, flush=True)
