"""The CPU a run is on, for reports: model, logical CPUs, threads per core and the ISA
flags that decide which CPU kernels torch uses (``lscpu``, ``/proc/cpuinfo`` as a fallback)."""
import os
import subprocess
from typing import Dict

ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16')


def cpu_info() -> Dict[str, object]:
    """``{'model': str, 'cpus': int, 'threads_per_core': int|None, 'flags': {flag: bool}}``
    from ``lscpu`` (``/proc/cpuinfo`` as a fallback): the CPU, how many of its logical CPUs
    share a core (2: two threads of one core, not two cores) and the ISA flags that decide
    which CPU kernels torch uses."""
    model, flags, per_core = '?', set(), None
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=20).stdout
        for line in out.splitlines():
            key, _, val = line.partition(':')
            if key.strip() == 'Model name':
                model = val.strip()
            elif key.strip() == 'Flags':
                flags = set(val.split())
            elif key.strip() == 'Thread(s) per core' and val.strip().isdigit():
                per_core = int(val.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    if model == '?' or not flags:
        try:
            with open('/proc/cpuinfo') as f:
                for line in f:
                    if line.startswith('model name') and model == '?':
                        model = line.split(':', 1)[1].strip()
                    elif line.startswith('flags') and not flags:
                        flags = set(line.split(':', 1)[1].split())
        except OSError:
            pass
    return dict(model=model, cpus=os.cpu_count() or 0, threads_per_core=per_core,
                flags={f: f in flags for f in ISA_FLAGS})


def cpu_line(info: Dict[str, object] = None) -> str:
    """One line for a report, e.g. ``AMD EPYC (`lscpu`), 2 logical CPUs, 1 thread per
    core; flags: avx2 yes, avx512f no, ...`` (``info``: :func:`cpu_info`, or this CPU's)."""
    info = cpu_info() if info is None else info
    flags = ', '.join(f"{k} {'yes' if v else 'no'}" for k, v in info['flags'].items())
    per_core = info.get('threads_per_core')
    smt = f', {per_core} thread{"s" if per_core != 1 else ""} per core' if per_core else ''
    return f"{info['model']} (`lscpu`), {info['cpus']} logical CPUs{smt}; flags: {flags}"
