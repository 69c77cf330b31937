"""The SAH study's tables from learning-benchmark caches: each SAH training variant's NMS-free
AP, duplicates and missed people beside the same runs' MAH + OKS-NMS at every threshold of
Table VI, per data family.

    .venv/bin/python -m benchmarks.learning_benchmark.sah_report \\
        figures=work_dirs/lb_sah[,work_dirs/lb_more] [silhouette=work_dirs/lb_sah_silhouette] \
        [--out FILE.md]

Reads ``WORK_DIR/results.json`` (every cached run with status ok, whatever its code hash:
point it at work dirs whose runs of one row share one code version; several work dirs of
one family are given comma-separated and merged row by row). A gap is called a rank only where it
exceeds the larger of the two standard deviations (:func:`benchmarks.common.stats.compare`).
"""
import argparse
import json
import os.path as osp
from typing import Dict, List

from benchmarks.common.stats import compare, fmt_mean_std
from benchmarks.learning_benchmark.rows import NMS_SWEEP, ROW_BY_NAME, SPLITS

Runs = Dict[str, Dict[int, dict]]  # decoding row -> seed -> {scores, diagnostics}


def load_runs(work_dir: str) -> Runs:
    """``{decoding row: {seed: result}}`` of the last checkpoint's decodings in a cache."""
    data = json.load(open(osp.join(work_dir, 'results.json')))
    out: Runs = {}
    for r in data.values():
        if r.get('status') != 'ok' or r.get('name') not in ROW_BY_NAME:
            continue
        for variant, scores in r['scores'].items():
            out.setdefault(variant or r['name'], {})[r['seed']] = dict(
                scores=scores, diagnostics=r['diagnostics'].get(variant, {}),
                epochs=r['budget']['epochs'])
    return out


def _vals(runs: Runs, name: str, split: str, key: str = 'AP') -> List[float]:
    out = []
    for seed in sorted(runs.get(name, {})):
        r = runs[name][seed]
        s = r['scores'].get(str(r['epochs']), {}).get(split)
        if s is not None:
            out.append(s[key])
    return out


def _diag(runs: Runs, name: str, split: str, thr: float, key: str) -> List[float]:
    out = []
    for seed in sorted(runs.get(name, {})):
        d = runs[name][seed]['diagnostics'].get(split, {}).get(str(thr))
        if d:
            out.append(d[key] / max(d["people"], 1))
    return out


def best_nms(runs: Runs, split: str) -> str:
    """The MAH + OKS-NMS threshold row with the highest mean AP on ``split``."""
    have = [f'mah-nms-{t}' for t in NMS_SWEEP if _vals(runs, f'mah-nms-{t}', split)]
    if not have:
        return ''
    return max(have, key=lambda n: sum(_vals(runs, n, split)) / len(_vals(runs, n, split)))


def family_tables(name: str, runs: Runs) -> List[str]:
    L = [f'### Data family `{name}`', '',
         '| decoding | seeds | ' + ' | '.join(
             f'{sp} AP | {sp} dup @0.1 | {sp} dup @0.3 | {sp} missed @0.3' for sp in SPLITS) + ' |',
         '|---|---|' + '---|' * (4 * len(SPLITS))]
    order = ['erpose-n', 'mah-nms'] + [f'mah-nms-{t}' for t in NMS_SWEEP] + [
        n for n in ROW_BY_NAME if ROW_BY_NAME[n]['group'] == 'SAH training'] + [
        n for n in ('yolov8n-pose', 'yolo26n-pose', 'yolo26n-pose-nms')]
    for n in order:
        if n not in runs:
            continue
        cells = []
        for sp in SPLITS:
            cells += [fmt_mean_std(_vals(runs, n, sp)),
                      fmt_mean_std(_diag(runs, n, sp, 0.1, 'duplicates')),
                      fmt_mean_std(_diag(runs, n, sp, 0.3, 'duplicates')),
                      fmt_mean_std(_diag(runs, n, sp, 0.3, 'missed'))]
        L.append(f'| `{n}` | {len(runs[n])} | ' + ' | '.join(cells) + ' |')
    L += ['', 'AP in %, duplicates and missed people per 100 people of the split (score >= '
          'threshold; `scoring.match_diagnostics`), mean ± std over seeds, last checkpoint.', '']
    for sp in SPLITS:
        b = best_nms(runs, sp)
        if not b:
            continue
        parts = []
        for n in ['erpose-n'] + [n for n in ROW_BY_NAME
                                 if ROW_BY_NAME[n]['group'] == 'SAH training' and n in runs]:
            va, vb = _vals(runs, n, sp), _vals(runs, b, sp)
            c = compare(va, vb)
            word = {'>': 'above', '<': 'below', '~': 'within noise of', None: '?'}[c]
            parts.append(f'`{n}` {fmt_mean_std(va)} {word} it')
        L.append(f'* {sp}: best MAH + OKS-NMS is `{b}` {fmt_mean_std(_vals(runs, b, sp))}; '
                 + '; '.join(parts) + '.')
        peers = [n for n in ('yolov8n-pose', 'yolo26n-pose', 'yolo26n-pose-nms') if n in runs]
        if peers:
            va = _vals(runs, 'erpose-n', sp)
            L.append(f'  ER-Pose-n as deployed (`erpose-n`, {fmt_mean_std(va)}) vs the peers: ' +
                     '; '.join(f"`{n}` {fmt_mean_std(_vals(runs, n, sp))} "
                               f"({ {'>': 'behind', '<': 'ahead', '~': 'level', None: '?'}[compare(_vals(runs, n, sp), va)] })"
                               for n in peers) + '.')
    L.append('')
    return L


def compact_table(families: Dict[str, Runs], names: List[str]) -> List[str]:
    """One row per decoding, AP (mean ± std, seeds) per family and split."""
    cols = [(f, sp) for f in families for sp in SPLITS]
    L = ['| decoding | ' + ' | '.join(f'{f} {sp}' for f, sp in cols) + ' |',
         '|---|' + '---|' * len(cols)]
    for n in names:
        if not any(n in runs for runs in families.values()):
            continue
        cells = []
        for f, sp in cols:
            v = _vals(families[f], n, sp)
            cells.append(f'{fmt_mean_std(v)} ({len(v)})' if v else '-')
        L.append(f'| `{n}` | ' + ' | '.join(cells) + ' |')
    L.append('')
    L.append('(n): seeds.')
    return L


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('families', nargs='+', help='NAME=WORK_DIR')
    p.add_argument('--out', help='markdown file (default: print)')
    p.add_argument('--compact', action='store_true',
                   help='only two summary tables: Table VI and the SAH training variants')
    a = p.parse_args()
    families = {}
    for spec in a.families:
        name, wd = spec.split('=', 1)
        families[name] = {}
        for one in wd.split(','):  # several caches of one family: rows merge, seed by seed
            for row, seeds in load_runs(one).items():
                families[name].setdefault(row, {}).update(seeds)
    L = []
    if a.compact:
        L += compact_table(families, ['erpose-n'] + [f'mah-nms-{t}' for t in NMS_SWEEP]) + ['']
        L += compact_table(families, ['erpose-n'] + [
            n for n in ROW_BY_NAME if ROW_BY_NAME[n]['group'] == 'SAH training'] +
            ['yolov8n-pose', 'yolo26n-pose', 'yolo26n-pose-nms'])
    else:
        for name, runs in families.items():
            L += family_tables(name, runs)
    if a.out:
        L = ['# The SAH against its own MAH + OKS-NMS, per data family', '',
             '_Generated by `python -m benchmarks.learning_benchmark.sah_report ' +
             ' '.join(a.families) + '`; what the rows are and what they show: '
             '[docs/design.md](../../docs/design.md#the-deployed-sah-against-its-own-mah--oks-nms)._',
             ''] + L
    text = '\n'.join(L)
    if a.out:
        with open(a.out, 'w') as f:
            f.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
