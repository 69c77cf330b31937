"""Which keypoints cost AP: COCO keypoint AP with one group of keypoints made perfect.

    python tools/analysis/keypoint_group_oracle.py GT_JSON PRED_JSON

``PRED_JSON`` is what ``tools/test.py CFG CKPT --out-json PREFIX`` writes
(``PREFIX.keypoints.json``). Each prediction is matched to the ground-truth person of its
image with the highest OKS; for every group (face, shoulders + hips, elbows + wrists,
knees + ankles) the AP is recomputed with that group's predicted coordinates replaced by
the matched person's (predictions matched at OKS < ``--min-oks`` are left alone: they are
detection errors, not localisation errors). The AP gain of a group is what its keypoints'
localisation costs. COCO's 17 keypoints and sigmas (pycocotools) only; OKS as the
assigner and the TAE tool compute it (``erpose_mm.evaluation.tae.oks_matrix``).
"""
import argparse
import contextlib
import copy
import io
import json
from typing import Dict, List, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from erpose_mm.evaluation.tae import oks_matrix

COCO_SIGMAS = COCOeval(iouType='keypoints').params.kpt_oks_sigmas
GROUPS: Dict[str, List[int]] = dict(
    face=[0, 1, 2, 3, 4], shoulders_hips=[5, 6, 11, 12], elbows_wrists=[7, 8, 9, 10],
    knees_ankles=[13, 14, 15, 16])


def keypoint_ap(coco: COCO, preds: Sequence[dict]) -> float:
    """COCO keypoint AP (OKS 0.50:0.95) of ``preds`` against ``coco``."""
    if not preds:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco.loadRes(copy.deepcopy(list(preds)))
        ev = COCOeval(coco, dt, 'keypoints')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def group_oracle_ap(coco: COCO, preds: Sequence[dict], groups: Dict[str, List[int]] = GROUPS,
                    min_oks: float = 0.3) -> Dict[str, float]:
    """``{'AP': ..., '<group>': AP with that group's keypoints set to the matched GT}``."""
    for p in preds:
        if len(p['keypoints']) != 17 * 3:
            raise ValueError(f"prediction for image {p['image_id']} has "
                             f"{len(p['keypoints']) // 3} keypoints; this tool uses COCO's 17")
    matched = []
    for p in preds:
        gts = [g for g in coco.loadAnns(coco.getAnnIds(imgIds=p['image_id'], iscrowd=False))
               if g.get('num_keypoints', 0) > 0]
        if not gts:
            matched.append(None)
            continue
        gt_k = np.asarray([g['keypoints'] for g in gts], float).reshape(len(gts), -1, 3)
        pred_k = np.asarray(p['keypoints'], float).reshape(1, -1, 3)
        s = oks_matrix(gt_k[..., :2], gt_k[..., 2], [g['area'] for g in gts],
                       pred_k[..., :2], COCO_SIGMAS)[:, 0]
        best = int(s.argmax())
        matched.append(gts[best] if s[best] >= min_oks else None)
    out = {'AP': keypoint_ap(coco, preds)}
    for name, idx in groups.items():
        fixed = copy.deepcopy(list(preds))
        for p, g in zip(fixed, matched):
            if g is None:
                continue
            k = np.asarray(p['keypoints'], float).reshape(-1, 3)
            k[idx, :2] = np.asarray(g['keypoints'], float).reshape(-1, 3)[idx, :2]
            p['keypoints'] = k.reshape(-1).tolist()
        out[name] = keypoint_ap(coco, fixed)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('gt_json')
    ap.add_argument('pred_json')
    ap.add_argument('--min-oks', type=float, default=0.3)
    args = ap.parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(args.gt_json)
    res = group_oracle_ap(coco, json.load(open(args.pred_json)), min_oks=args.min_oks)
    print(f"AP {res['AP']:.3f}")
    for name in GROUPS:
        print(f'AP with {name} set to ground truth: {res[name]:.3f} '
              f"(+{res[name] - res['AP']:.3f})")


if __name__ == '__main__':
    main()
