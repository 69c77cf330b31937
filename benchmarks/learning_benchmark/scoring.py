"""One scoring function for every row (MMPose and Ultralytics alike), and the duplicate /
missed-person diagnostics of NMS-free decoding.

``score_keypoints`` runs xtcocotools' ``COCOeval`` exactly as MMPose's ``CocoMetric`` does:
``iouType='keypoints'`` (COCO AP/AR, OKS scale = annotation area) for the mixed split and
``iouType='keypoints_crowd'`` with ``use_area=False`` (CrowdPose AP/AR and AP_E / AP_M / AP_H
by the per-image ``crowdIndex``, OKS scale = 0.53 x box area) for the crowded split.
"""
import contextlib
import copy
import io
import json
from typing import Dict, List, Sequence

import numpy as np

from erpose_mm.runtime import constants

COCO_SIGMAS = np.array(constants.COCO_SIGMAS)
COCO_NAMES = ('AP', 'AP50', 'AP75', 'AP_M', 'AP_L', 'AR', 'AR50', 'AR75', 'AR_M', 'AR_L')
CROWD_NAMES = ('AP', 'AP50', 'AP75', 'AR', 'AR50', 'AR75', 'AP_E', 'AP_M', 'AP_H')


def score_keypoints(gt_json: str, results: List[dict], crowd: bool) -> Dict[str, float]:
    """COCO (``crowd=False``) or CrowdPose (``crowd=True``) keypoint metrics of ``results``.

    Args:
        gt_json: COCO keypoint ground truth; with ``crowd`` its images need ``crowdIndex``.
        results: COCO keypoint results ``{image_id, category_id, keypoints (51), score}``.
    Returns:
        ``{name: value}`` over :data:`COCO_NAMES` or :data:`CROWD_NAMES` (0 when no results).
    """
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    names = CROWD_NAMES if crowd else COCO_NAMES
    if not results:
        return {k: 0.0 for k in names}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_json)
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, 'keypoints_crowd' if crowd else 'keypoints', COCO_SIGMAS,
                      use_area=not crowd)
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(max(v, 0.0)) for k, v in zip(names, ev.stats)}


def _people(gt: dict) -> Dict[int, list]:
    """``{image_id: [(keypoints (K, 3), area)]}`` of the people COCOeval scores (not crowd,
    at least one labelled keypoint; area 0.53 x box area where an annotation has none)."""
    people: Dict[int, list] = {}
    for a in gt['annotations']:
        k = np.asarray(a['keypoints'], float).reshape(-1, 3)
        if a.get('iscrowd') or not (k[:, 2] > 0).any():
            continue
        area = a.get('area') or a['bbox'][2] * a['bbox'][3] * 0.53
        people.setdefault(a['image_id'], []).append((k, area))
    return people


def _match_image(P: list, D: list, oks_thr: float):
    """Greedy matching of one image's predictions ``D`` (descending score) to its people
    ``P``: (kind per prediction: 'tp' / 'dup' / 'fp', OKS of each prediction with the person
    it matched or overlaps most, number of people no prediction reaches above ``oks_thr``)."""
    from erpose_mm.evaluation.tae import oks_matrix
    if not P:
        return ['fp'] * len(D), [0.0] * len(D), 0
    if not D:
        return [], [], len(P)
    S = oks_matrix(np.stack([p[0][:, :2] for p in P]), np.stack([p[0][:, 2] for p in P]),
                   np.array([p[1] for p in P], float),
                   np.stack([np.asarray(r['keypoints'], float).reshape(-1, 3)[:, :2]
                             for r in D]), COCO_SIGMAS)
    taken = np.zeros(len(P), bool)
    kinds, oks = [], []
    for j in range(len(D)):
        over = S[:, j] > oks_thr
        free = over & ~taken
        if free.any():
            i = int(np.argmax(np.where(free, S[:, j], -1.0)))
            taken[i] = True
            kinds.append('tp')
            oks.append(float(S[i, j]))
        else:
            kinds.append('dup' if over.any() else 'fp')
            oks.append(float(S[:, j].max()))
    return kinds, oks, int((S.max(axis=1) <= oks_thr).sum())


def label_predictions(gt: dict, results: Sequence[dict], oks_thr: float = 0.5) -> List[tuple]:
    """Every prediction as ``(score, kind, oks)``, matched per image as in
    :func:`match_diagnostics` (all scores): kind 'tp' (matches a free person), 'dup' (only
    an already matched one) or 'fp' (nobody)."""
    people, preds = _people(gt), {}
    for r in results:
        preds.setdefault(r['image_id'], []).append(r)
    out = []
    for im in gt['images']:
        D = sorted(preds.get(im['id'], []), key=lambda r: -r['score'])
        kinds, oks, _ = _match_image(people.get(im['id'], []), D, oks_thr)
        out += [(r['score'], k, o) for r, k, o in zip(D, kinds, oks)]
    return out


def match_diagnostics(gt: dict, results: Sequence[dict], score_thr: float,
                      oks_thr: float = 0.5) -> Dict[str, float]:
    """Duplicates and missed people of the predictions with ``score >= score_thr``.

    Per image, predictions are visited in descending score order; each one matches the
    still-unmatched person it has the highest OKS with, if that OKS is ``> oks_thr``.
    A prediction that finds no unmatched person above ``oks_thr`` but an already matched one
    is a *duplicate*; one that overlaps nobody is a *false positive*. A person is *missed*
    when no prediction at all reaches ``OKS > oks_thr`` with them. People without labelled
    keypoints and crowd regions are ignored (as COCOeval does). OKS: the project's
    ``erpose_mm.evaluation.tae.oks_matrix`` with the COCO sigmas and the annotation area
    (0.53 x box area where an annotation has no area).

    Args:
        gt: COCO keypoint ground-truth dict. results: COCO keypoint results.
    Returns:
        counts ``people, preds, matched, duplicates, false_pos, missed`` and the rates
        ``dup_rate`` (duplicates per person) and ``miss_rate`` (missed / people).
    """
    people, preds = _people(gt), {}
    for r in results:
        if r['score'] >= score_thr:
            preds.setdefault(r['image_id'], []).append(r)
    c = dict(people=sum(len(v) for v in people.values()), preds=0, matched=0, duplicates=0,
             false_pos=0, missed=0)
    for im in gt['images']:
        D = sorted(preds.get(im['id'], []), key=lambda r: -r['score'])
        kinds, _, missed = _match_image(people.get(im['id'], []), D, oks_thr)
        c['preds'] += len(D)
        c['matched'] += kinds.count('tp')
        c['duplicates'] += kinds.count('dup')
        c['false_pos'] += kinds.count('fp')
        c['missed'] += missed
    n = max(1, c['people'])
    c['dup_rate'] = c['duplicates'] / n
    c['miss_rate'] = c['missed'] / n
    return c


def split_results(results: Sequence[dict], image_ids: Sequence[int]) -> List[dict]:
    """The results whose ``image_id`` is in ``image_ids``."""
    keep = set(image_ids)
    return [r for r in results if r['image_id'] in keep]


def load_json(path: str):
    with open(path) as f:
        return json.load(f)
