"""How two decodings of the same learning-benchmark runs differ: true positives, duplicates,
localisation and how well the scores rank true positives above everything else.

COCO AP sorts all of a split's predictions by score, so two decodings with the same recall
and the same keypoint accuracy can still differ in AP if one ranks its duplicates and false
positives above other people's true positives. Per prediction (all scores, greedy matching
per image at OKS > 0.5, as ``scoring.match_diagnostics``): 'tp', 'dup' or 'fp'; then per
decoding the counts, the mean OKS of the true positives, and the AUC of the scores of true
positives against the rest (1: every true positive above every other prediction).

    .venv/bin/python -m benchmarks.learning_benchmark.ranking [--row erpose-n]
        [--decodings own,mah-nms] [--epoch 8] [--seeds 0,1,2]

Reads the predictions the benchmark kept under ``WORK_DIR/rows/ROW_seedS/``.
"""
import argparse
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from benchmarks.learning_benchmark.data import VAL_JSON
from benchmarks.learning_benchmark.rows import SPLITS
from benchmarks.learning_benchmark.scoring import label_predictions, load_json

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def ranking_stats(labels: Sequence[tuple]) -> Dict[str, float]:
    """Counts, true positives' mean OKS and the TP-vs-rest score AUC of ``labels``
    (``(score, kind, oks)`` from :func:`label_predictions`); AUC is NaN without both."""
    kinds = [k for _, k, _ in labels]
    pos = np.array([s for s, k, _ in labels if k == 'tp'], float)
    neg = np.array([s for s, k, _ in labels if k != 'tp'], float)
    if len(pos) and len(neg):
        # Mann-Whitney U: the fraction of (tp, other) pairs ordered right, ties count half
        from scipy.stats import rankdata
        ranks = rankdata(np.concatenate([pos, neg]))
        auc = (ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    else:
        auc = float('nan')
    return dict(preds=len(labels), tp=kinds.count('tp'), dup=kinds.count('dup'),
                fp=kinds.count('fp'), auc=float(auc),
                tp_oks=float(np.mean([o for _, k, o in labels if k == 'tp'] or [np.nan])))


def compare(work_dir: str, row: str, decodings: List[str], epoch: int,
            seeds: List[int]) -> str:
    """Markdown table: per split and decoding, mean ± std over seeds of the stats."""
    lines = ['| split | decoding | predictions | true pos. | duplicates | false pos. | '
             'TP mean OKS | AUC tp vs rest |', '|---|---|---|---|---|---|---|---|']
    for split in SPLITS:
        gt = load_json(osp.join(work_dir, 'data', VAL_JSON.replace('.json', f'_{split}.json')))
        ids = {im['id'] for im in gt['images']}
        for dec in decodings:
            per_seed = []
            for s in seeds:
                res = load_json(osp.join(work_dir, 'rows', f'{row}_seed{s}',
                                         f'preds_{dec}_e{epoch}.keypoints.json'))
                per_seed.append(ranking_stats(label_predictions(
                    gt, [r for r in res if r['image_id'] in ids])))

            def ms(k, f='.0f'):
                v = np.array([p[k] for p in per_seed], float)
                return f'{v.mean():{f}} ± {v.std():{f}}'
            lines.append(f"| {split} | {dec} | {ms('preds')} | {ms('tp')} | {ms('dup')} | "
                         f"{ms('fp')} | {ms('tp_oks', '.3f')} | {ms('auc', '.3f')} |")
    return '\n'.join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'learning_benchmark'))
    p.add_argument('--row', default='erpose-n', help='trained row whose runs to read')
    p.add_argument('--decodings', default='own,mah-nms',
                   help="comma-separated; 'own' = the row's own decoding")
    p.add_argument('--epoch', type=int, default=8, help='checkpoint epoch')
    p.add_argument('--seeds', default='0,1,2')
    a = p.parse_args()
    print(compare(a.work_dir, a.row, a.decodings.split(','), a.epoch,
                  [int(s) for s in a.seeds.split(',')]))


if __name__ == '__main__':
    main()
