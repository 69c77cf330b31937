"""CLEAR-MOT counts (FN, FP, ID switches, MOTA) for pose tracks, matched by keypoint OKS.

Per frame, ground-truth people are matched to tracker outputs as in the CLEAR-MOT rule
(Bernardin & Stiefelhagen 2008): a ground-truth person keeps the output ID it was matched
to before if that output is still within ``oks_thr``; the rest are matched by the
Hungarian method on OKS. An ID switch is counted when a ground-truth person is matched
to an output ID other than the one it was last matched to.
"""
from typing import Dict, List, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..runtime.tracker import default_sigmas, keypoint_area, visible_oks_matrix


def clear_mot(gt_frames: Sequence[Sequence[dict]], pred_frames: Sequence[Sequence[dict]],
              oks_thr: float = 0.5) -> Dict[str, float]:
    """Count tracking errors over a sequence.

    Args:
        gt_frames: per frame, the ground-truth people: ``dict(id=int, keypoints=(K, 2),
            visible=(K,) bool)``.
        pred_frames: per frame, the tracker's people: ``dict(track_id=int,
            keypoints=(K, 2))``.
        oks_thr: OKS (ground-truth scale, visible keypoints) a match needs.

    Returns:
        dict with ``num_gt``, ``tp``, ``fn``, ``fp``, ``idsw``, ``mota``
        (= 1 - (fn + fp + idsw) / num_gt) and ``num_ids`` (distinct output IDs).
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f'clear_mot: {len(gt_frames)} ground-truth frames but '
                         f'{len(pred_frames)} predicted frames')
    last: Dict[int, int] = {}   # ground-truth id -> output id it was last matched to
    num_gt = tp = fn = fp = idsw = 0
    out_ids = set()
    for gts, preds in zip(gt_frames, pred_frames):
        num_gt += len(gts)
        out_ids.update(int(p['track_id']) for p in preds)
        if not gts or not preds:
            fn += len(gts)
            fp += len(preds)
            continue
        g_k = np.array([g['keypoints'] for g in gts], np.float64)
        g_v = np.array([g['visible'] for g in gts], bool)
        p_k = np.array([p['keypoints'] for p in preds], np.float64)
        p_v = np.ones(p_k.shape[:2], bool)
        area = np.repeat(keypoint_area(g_k, g_v)[:, None], len(preds), 1)
        sim = visible_oks_matrix(g_k, g_v, p_k, p_v, area, default_sigmas(g_k.shape[1]))
        p_ids = [int(p['track_id']) for p in preds]
        pairs = {}
        # keep last frame's correspondences that are still valid
        for gi, g in enumerate(gts):
            pid = last.get(int(g['id']))
            if pid in p_ids:
                pj = p_ids.index(pid)
                if sim[gi, pj] >= oks_thr and pj not in pairs.values():
                    pairs[gi] = pj
        free_g = [i for i in range(len(gts)) if i not in pairs]
        free_p = [j for j in range(len(preds)) if j not in pairs.values()]
        if free_g and free_p:
            sub = sim[np.ix_(free_g, free_p)]
            for r, c in zip(*linear_sum_assignment(-sub)):
                if sub[r, c] >= oks_thr:
                    pairs[free_g[r]] = free_p[c]
        for gi, pj in pairs.items():
            gid = int(gts[gi]['id'])
            if gid in last and last[gid] != p_ids[pj]:
                idsw += 1
            last[gid] = p_ids[pj]
        tp += len(pairs)
        fn += len(gts) - len(pairs)
        fp += len(preds) - len(pairs)
    mota = 1.0 - (fn + fp + idsw) / max(num_gt, 1)
    return dict(num_gt=num_gt, tp=tp, fn=fn, fp=fp, idsw=idsw, mota=mota,
                num_ids=len(out_ids))


def run_tracker(tracker, det_frames: Sequence[Sequence[dict]]) -> List[List[dict]]:
    """Feed per-frame detections (``keypoints``, ``keypoint_scores``, ``bbox_score``)
    to ``tracker.update_people``; returns its per-frame outputs (with ``track_id``)."""
    return [tracker.update_people(list(dets)) for dets in det_frames]
