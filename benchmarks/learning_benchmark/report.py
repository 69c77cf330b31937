"""The learning benchmark's report: terminal table, benchmarks/results/learning_benchmark.md and its plot.

Every number comes from the cache (``results.json``); a rank between two rows is claimed
only where the gap of their means exceeds the larger of their standard deviations
(:func:`benchmarks.common.stats.compare`).
"""
import os
import os.path as osp
from typing import Dict, List, Tuple

from benchmarks.common.machine import cpu_line
from benchmarks.common.report import bar_plot, md_table, text_table
from benchmarks.common.stats import compare, fmt_mean_std, mean_std
from benchmarks.learning_benchmark.recipes import recipe_lines, setup_lines
from benchmarks.learning_benchmark.rows import ROW_BY_NAME, ROWS, SPLITS, trained_name

Results = Dict[str, Dict[int, dict]]  # display row -> seed -> result of that decoding
COLORS = {'ER-Pose-n': '#d62728', 'Table III': '#ff7f0e', 'Table VII': '#bcbd22',
          'Table VIII': '#9467bd', 'Table IX': '#8c564b', 'design': '#e377c2',
          'MMPose peers': '#1f77b4', 'Ultralytics': '#17becf'}


def values(results: Results, name: str, split: str, metric: str, epoch: int) -> List[float]:
    """The metric of every seed of a row at one checkpoint (seed order)."""
    out = []
    for seed in sorted(results.get(name, {})):
        s = results[name][seed]['scores'].get(str(epoch), {}).get(split)
        if s is not None:
            out.append(s[metric])
    return out


def diag_values(results: Results, name: str, split: str, thr: float, key: str) -> List[float]:
    return [r['diagnostics'][split][str(thr)][key] for r in results.get(name, {}).values()
            if split in r.get('diagnostics', {})]


def terminal_table(results: Results, b: dict) -> str:
    e = b['epochs']
    rows = []
    for r in ROWS:
        n = r['name']
        rows.append([n, len(results.get(n, {})),
                     fmt_mean_std(values(results, n, 'mixed', 'AP', e)),
                     fmt_mean_std(values(results, n, 'crowded', 'AP', e)),
                     fmt_mean_std(values(results, n, 'crowded', 'AP_H', e))])
    return text_table(['row', 'seeds', 'mixed AP', 'crowded AP', 'crowded AP_H'], rows)


def rank_sentence(results: Results, a: str, b_: str, e: int) -> str:
    """``a`` vs ``b_`` on both splits, e.g. "mixed: `a` 12.0 ± 0.3 > `b` 9.1 ± 0.8; ..."."""
    parts = []
    for sp in SPLITS:
        va, vb = values(results, a, sp, 'AP', e), values(results, b_, sp, 'AP', e)
        c = compare(va, vb)
        if c is None:
            parts.append(f'{sp}: not both measured yet')
            continue
        word = {'>': '>', '<': '<', '~': 'no rank (gap within the larger std'
                + (', one seed each)' if len(va) < 2 and len(vb) < 2 else ')')}[c]
        parts.append(f"{sp}: `{a}` {fmt_mean_std(va)} {word if c != '~' else 'vs'} "
                     f"`{b_}` {fmt_mean_std(vb)}" + (f' -- {word}' if c == '~' else ''))
    return '; '.join(parts)


def order_sentence(results: Results, names: List[str], e: int, split: str) -> str:
    """Measured order of ``names`` on one split, with the pairs that are real ranks."""
    have = [n for n in names if values(results, n, split, 'AP', e)]
    if len(have) < len(names):
        return f'{split}: not all measured yet'
    ranked = sorted(have, key=lambda n: mean_std(values(results, n, split, 'AP', e))[0])
    txt = ' < '.join(f'`{n}` {fmt_mean_std(values(results, n, split, "AP", e))}' for n in ranked)
    claims = []
    for i in range(len(ranked) - 1):
        c = compare(values(results, ranked[i + 1], split, 'AP', e),
                    values(results, ranked[i], split, 'AP', e))
        claims.append(f"`{ranked[i + 1]}` {'>' if c == '>' else '~'} `{ranked[i]}`")
    return f'{split}: {txt} (ranks: ' + ', '.join(claims) + ')'


def missing_runs(results_cache, want: List[Tuple[str, int]], results: Results) -> List[str]:
    miss: Dict[str, List[int]] = {}
    for n, s in want:
        if s not in results.get(n, {}):
            miss.setdefault(n, []).append(s)
    return [f"`{n}` seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
            for n, s in miss.items()]


def write(path: str, results: Results, b: dict, meta: dict, want, cache, data_dir: str) -> None:
    e = b['epochs']
    pct = {ep: f'{round(100 * ep / e)}%' for ep in b['ckpt_epochs']}
    png = osp.splitext(path)[0] + '.png'
    shown = [r['name'] for r in ROWS if results.get(r['name'])]
    ok = bar_plot(png, shown, {
        f'{sp} AP' + (' (CrowdPose)' if sp == 'crowded' else ''): [
            tuple(100 * x if i < 2 else x for i, x in enumerate(
                mean_std(values(results, n, sp, 'AP', e)))) for n in shown] for sp in SPLITS},
        [COLORS.get(ROW_BY_NAME[n]['group'], 'gray') for n in shown],
        f"{b['epochs']} epochs, batch {b['batch']}, input {b['input']}; mean ± std over seeds "
        '(solid: mixed, hatched: crowded)', 'keypoint AP (%)')
    L = ['# Learning benchmark: ER-Pose-n, its ablations and its peers at one CPU budget', '',
         '_Generated by `benchmarks/learning.py`; do not edit by hand._', '']
    miss = missing_runs(cache, want, results)
    if miss:
        L += ['**Partial report**: these (row, seed) runs are not in it (not run yet, or '
              'still running): ' + '; '.join(miss) + '. Means and ranks below are over the seeds '
              'that finished (the `seeds` column).' + (' ' + meta['partial_note']
                                                       if meta.get('partial_note') else ''), '']
    L += setup_lines(b, meta, data_dir, results)
    # ---- main table
    head = ['row', 'group', 'seeds', 'mixed AP', 'mixed AP50', 'mixed AR', 'crowded AP',
            'AP_E', 'AP_M', 'AP_H', 'paper AP']
    rows = []
    for r in ROWS:
        n = r['name']
        f = (lambda sp, m: fmt_mean_std(values(results, n, sp, m, e)))
        rows.append([f'`{n}`', r['group'], ','.join(map(str, sorted(results.get(n, {}))))
                     or '-', f('mixed', 'AP'), f('mixed', 'AP50'), f('mixed', 'AR'),
                     f('crowded', 'AP'), f('crowded', 'AP_E'), f('crowded', 'AP_M'),
                     f('crowded', 'AP_H'), r.get('paper_ap', '-')])
    L += ['## Results (last checkpoint)', ''] + md_table(head, rows) + ['']
    if ok:
        L += [f'![AP per row]({osp.basename(png)})', '']
    L += ['AP/AR in %, mean ± sample std over the seeds listed (one seed: no std). Mixed: '
          'COCO keypoint AP/AR (`iouType="keypoints"`); crowded: CrowdPose AP and AP_E / '
          'AP_M / AP_H by crowd index (`iouType="keypoints_crowd"`, `use_area=False`, easy < '
          '0.2 <= medium < 0.8 <= hard, the thresholds of xtcocotools / MMPose). `paper AP`: '
          'the same setting in the paper (COCO val2017, 600 epochs), for the direction of '
          'each ablation, not the level.', '']
    # ---- checkpoints
    head = ['row'] + [f'mixed AP @{pct[ep]}' for ep in b['ckpt_epochs']] + \
        [f'crowded AP @{pct[ep]}' for ep in b['ckpt_epochs']]
    rows = [[f"`{r['name']}`"] + [fmt_mean_std(values(results, r['name'], sp, 'AP', ep))
                                  for sp in SPLITS for ep in b['ckpt_epochs']]
            for r in ROWS if results.get(r['name'])]
    L += ['## Checkpoints (are the ranks stable?)', '',
          'The same runs evaluated at ' + ', '.join(
              f"epoch {ep} ({pct[ep]})" for ep in b['ckpt_epochs']) + ' of the schedule (the '
          'learning rate is not annealed yet at the earlier ones).', ''] + md_table(head, rows) + ['']
    # ---- diagnostics
    head = ['row'] + [f'{sp} {k} @{t}' for sp in SPLITS for t in (0.3, 0.1)
                      for k in ('dup', 'missed')]
    rows = []
    for r in ROWS:
        n = r['name']
        if not results.get(n):
            continue
        rows.append([f'`{n}`'] + [fmt_mean_std(diag_values(results, n, sp, t, k), 100, 1)
                                  for sp in SPLITS for t in (0.3, 0.1)
                                  for k in ('dup_rate', 'miss_rate')])
    L += ['## Duplicates and missed people (last checkpoint)', '',
          'Per 100 people of the split, mean ± std over seeds, predictions with score >= 0.3 '
          '(display threshold) and >= 0.1. A *duplicate* is a prediction that matches no '
          'unmatched person at OKS > 0.5 but a person already matched by a higher-scored '
          'prediction; a person is *missed* when no prediction reaches OKS > 0.5 with them '
          '(`benchmarks/learning_benchmark/scoring.py`, project OKS with the COCO sigmas). An '
          'NMS-free head that is really one-to-one has few duplicates.', '']
    L += md_table(head, rows) + ['']
    if meta.get('notes'):
        L += ['## Notes', '', meta['notes'], '']
    # ---- reading it
    L += ['## Reading it', '',
          'A rank is claimed only where the gap between two means exceeds the larger of the '
          'two standard deviations; "~" / "no rank" otherwise.', '',
          "* Table III (paper: `box-iou` 50.4 < `box-oks` 54.7 < `erpose-n` 57.1): " +
          '; '.join(order_sentence(results, ['box-iou', 'box-oks', 'erpose-n'], e, sp)
                    for sp in SPLITS) + '.',
          '* Box-driven vs keypoint-driven, the paper\'s claim: ' +
          rank_sentence(results, 'erpose-n', 'box-iou', e) + '.',
          "* Table VII (paper: `sah-only` 53.1 < `mah-nms` 56.6 < `erpose-n` 57.1): " +
          '; '.join(order_sentence(results, ['sah-only', 'mah-nms', 'erpose-n'], e, sp)
                    for sp in SPLITS) + '.',
          "* Table VIII (paper: (0.5, 0) 50.7, (1.0, 6) 54.3 < default (0.5, 6)): " +
          '; '.join(order_sentence(results, ['ab-0.5-0', 'ab-1.0-6', 'erpose-n'], e, sp)
                    for sp in SPLITS) + '.',
          "* Table IX (paper: Laplace 55.7 < Gaussian 56.1 < SOKS 57.1): " +
          '; '.join(order_sentence(results, ['loss-laplace', 'loss-gaussian', 'erpose-n'], e,
                                   sp) for sp in SPLITS) + '.']
    for other in ('conf-hard', 'shared-regression', 'cand-all'):
        L.append(f'* `{other}` vs the default: ' + rank_sentence(results, 'erpose-n', other, e)
                 + '.')
    for peer in ('yolov8n-pose', 'yolo26n-pose', 'yolo26n-pose-nms', 'yoloxpose-tiny',
                 'rtmo-t'):
        L.append(f'* ER-Pose-n vs `{peer}`: ' + rank_sentence(results, 'erpose-n', peer, e)
                 + '.')
    L.append('')
    L += recipe_lines(results, b)
    L += timing_lines(results, b)
    gits = ', '.join(sorted({r.get('git', '?') for rs in results.values() for r in rs.values()}))
    L += ['## Reproduce', '', '```bash',
          '.venv/bin/python -m benchmarks.learning --only main --jobs 2 --threads 1   # main rows, 3 seeds',
          '.venv/bin/python -m benchmarks.learning --jobs 2 --threads 1               # all rows (cached ones are kept)',
          '.venv/bin/python -m benchmarks.learning --quick                            # smoke run into work_dirs/',
          '.venv/bin/python -m benchmarks.learning --doc-only                         # re-render this file',
          'bash benchmarks/setup_peers_env.sh                                         # Ultralytics rows',
          '```', '',
          'Raw numbers per (row, seed) -- every checkpoint\'s scores, diagnostic counts, '
          'config changes, epoch times, load averages: `work_dirs/learning_benchmark/'
          'results.json`; logs and predictions under `work_dirs/learning_benchmark/rows/`.', '',
          f"Machine: {cpu_line(meta['cpu'])}. Code version (hash of `erpose_mm/`, "
          f"`configs/erpose/` and the MMPose worker; of the Ultralytics worker): "
          f"`{meta['codes'].get('mm', '-')}`; `{meta['codes'].get('yolo', '-')}` (git {gits or '-'}"
          "; `+dirty`: with uncommitted changes of `erpose_mm/` or `configs/` in the snapshot "
          "the runs used, kept in `work_dirs/learning_benchmark/code/`). Rendered "
          f"{meta['date']}.", '']
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(L))


def timing_lines(results: Results, b: dict) -> List[str]:
    """Measured time per worker run, by row, for planning runs."""
    head = ['row', 'runs', 'iterations', 'train s (mean)', 's / iteration', 'run wall s (mean)',
            'load (1 min) during']
    rows = []
    for r in ROWS:
        if r['kind'] == 'eval' or not results.get(r['name']):
            continue
        rs = list(results[r['name']].values())
        tr = mean_std([x.get('train_s') for x in rs])[0]
        it = rs[0].get('iters') or 0
        wall = mean_std([x.get('row_wall_s') for x in rs])[0]
        loads = [x.get(k) for x in rs for k in ('load_before', 'load_after')]
        loads = [v for v in loads if v is not None]
        rows.append([f"`{r['name']}`", len(rs), it, f'{tr:.0f}',
                     f'{tr / it:.2f}' if it else '-', f'{wall:.0f}',
                     f'{min(loads):.1f}-{max(loads):.1f}' if loads else '-'])
    return ['## Time per run', '',
            '`train s`: wall time of the training epochs; `run wall s`: the whole worker run '
            '(start-up, training, tests of every checkpoint and decoding, scoring). Rows ran '
            f"two at a time with 1 thread each on a 2-core machine shared with other work; "
            'the load column says how busy it was.', ''] + md_table(head, rows) + ['']
