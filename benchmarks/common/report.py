"""Markdown tables and bar plots (mean with a std error bar) for benchmark reports."""
from typing import Dict, List, Optional, Sequence


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> List[str]:
    """GitHub markdown table lines."""
    out = ['| ' + ' | '.join(str(h) for h in header) + ' |',
           '|' + '---|' * len(header)]
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return out


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Fixed-width table for a terminal."""
    rows = [[str(c) for c in r] for r in rows]
    w = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ['  '.join(str(x).ljust(w[i]) for i, x in enumerate(header)),
             '  '.join('-' * n for n in w)]
    lines += ['  '.join(x.ljust(w[i]) for i, x in enumerate(r)) for r in rows]
    return '\n'.join(lines)


def bar_plot(path: str, labels: Sequence[str], series: Dict[str, Sequence[tuple]],
             colors: Sequence[str], title: str, ylabel: str) -> bool:
    """Grouped bars: ``series[name][i] = (mean, std, n)`` for label i (nan mean: no bar).

    Returns False (and writes nothing) when there is no bar to draw.
    """
    import math
    if not labels or all(math.isnan(v[0]) for s in series.values() for v in s):
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    x = np.arange(len(labels))
    k = max(1, len(series))
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(labels) + 2), 4.8))
    hatches = ['', '//', '..', 'xx']
    top = 5.0
    for j, (name, vals) in enumerate(series.items()):
        m = np.array([v[0] for v in vals], float)
        s = np.array([v[1] if v[2] > 1 else 0.0 for v in vals], float)
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, np.nan_to_num(m), width, yerr=np.nan_to_num(s), capsize=2,
               color=colors, hatch=hatches[j % len(hatches)], edgecolor='k', linewidth=0.3,
               alpha=1.0 if j == 0 else 0.6, label=name)
        if np.isfinite(m).any():
            top = max(top, float(np.nanmax(m + s)))
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=35, ha='right', fontsize=8)
    ax.set_ylim(0, 1.15 * top)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
