"""Mean ± std over seeds, and the rank rule of the reports: a rank is claimed only where the
gap between two means exceeds the larger of the two standard deviations."""
import math
from typing import Optional, Sequence, Tuple


def mean_std(values: Sequence[float]) -> Tuple[float, float, int]:
    """``(mean, sample std (ddof=1, 0 for one value), n)``; ``(nan, nan, 0)`` when empty."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return float('nan'), float('nan'), 0
    m = sum(xs) / n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return m, s, n


def fmt_mean_std(values: Sequence[float], scale: float = 100.0, nd: int = 1) -> str:
    """``'12.3 ± 0.4'`` (n >= 2), ``'12.3'`` (n == 1), ``'-'`` (n == 0); values times ``scale``."""
    m, s, n = mean_std(values)
    if n == 0:
        return '-'
    if n == 1:
        return f'{m * scale:.{nd}f}'
    return f'{m * scale:.{nd}f} ± {s * scale:.{nd}f}'


def compare(a: Sequence[float], b: Sequence[float]) -> Optional[str]:
    """``'>'`` / ``'<'`` when ``mean(a) - mean(b)`` is larger in size than the larger std,
    ``'~'`` (no rank) otherwise; ``None`` when either side has no value.

    With one seed on a side its std is unknown: only the other side's std counts, and with
    one seed on both sides no rank is claimed (``'~'``).
    """
    ma, sa, na = mean_std(a)
    mb, sb, nb = mean_std(b)
    if na == 0 or nb == 0:
        return None
    spread = max(sa if na > 1 else 0.0, sb if nb > 1 else 0.0)
    if na < 2 and nb < 2:
        return '~'
    gap = ma - mb
    if abs(gap) > spread:
        return '>' if gap > 0 else '<'
    return '~'


def med(xs) -> float:
    """Median of the values that are not None (nan when none)."""
    import statistics
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float('nan')
