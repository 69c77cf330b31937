"""Small helpers shared by the benchmark scripts."""
import os
import statistics
import sys


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float('nan')


def med(xs) -> float:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float('nan')
