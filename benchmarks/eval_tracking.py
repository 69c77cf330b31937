"""Count the pose tracker's errors on synthetic walking sequences (no model needed).

    python -m benchmarks.eval_tracking [--seeds 0 1 2 3 4 5 6 7] [--pairs 4] [--frames 160]

Each sequence (erpose_mm/tracking/synthetic_walks.py): pairs of people walk towards each
other and cross, the farther one hidden behind the nearer one for a while; the simulated
detector adds keypoint noise, misses people (5%, 30% when mostly hidden), scores hidden
people low (0.15-0.45) and adds false people (scores 0.1-0.55). Prints a markdown table of
CLEAR-MOT counts (OKS >= 0.5 matches) for the tracker as the tools run it (``--track``:
high threshold 0.3 = --score-thr, low 0.1, max age 30) and for two ablations.
"""
import argparse
import sys

from erpose_mm.tracking import PoseTracker, clear_mot, make_walking_scene, run_tracker
from erpose_mm.tracking.synthetic_walks import detections_with_true_ids

VARIANTS = {
    'tools default (--track)': dict(high_thr=0.3, low_thr=0.1),
    'no low-score association': dict(high_thr=0.3, low_thr=0.3),
    'no motion prediction': dict(high_thr=0.3, low_thr=0.1, use_velocity=False),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=list(range(8)))
    p.add_argument('--pairs', type=int, default=4)
    p.add_argument('--frames', type=int, default=160)
    args = p.parse_args(argv)
    scenes = [make_walking_scene(num_pairs=args.pairs, num_frames=args.frames, seed=s)
              for s in args.seeds]
    crossings = sum(len(s['crossings']) for s in scenes)
    print(f'{len(scenes)} sequences x {args.frames} frames, {2 * args.pairs} people each, '
          f'{crossings} crossings (pairs whose boxes overlap with IoU > 0.3)\n')
    print('| tracker | GT | FN | FP | IDSW | IDSW / crossing | MOTA | IDs (people: '
          f'{2 * args.pairs * len(scenes)}) |')
    print('|---|---|---|---|---|---|---|---|')
    tot = dict(num_gt=0, fn=0, fp=0, idsw=0, num_ids=0)
    for s in scenes:  # a perfect tracker on the same detections: the FN floor
        m = clear_mot(s['gt_frames'], detections_with_true_ids(s['det_frames']))
        for k in tot:
            tot[k] += m[k]
    print(f"| oracle IDs, true detections only | {tot['num_gt']} | {tot['fn']} | {tot['fp']} | "
          f"{tot['idsw']} | - | {1 - (tot['fn'] + tot['fp'] + tot['idsw']) / tot['num_gt']:.3f}"
          f" | {tot['num_ids']} |")
    for name, kw in VARIANTS.items():
        tot = dict(num_gt=0, fn=0, fp=0, idsw=0, num_ids=0)
        for s in scenes:
            m = clear_mot(s['gt_frames'], run_tracker(PoseTracker(**kw), s['det_frames']))
            for k in tot:
                tot[k] += m[k]
        mota = 1 - (tot['fn'] + tot['fp'] + tot['idsw']) / tot['num_gt']
        print(f"| {name} | {tot['num_gt']} | {tot['fn']} | {tot['fp']} | {tot['idsw']} | "
              f"{tot['idsw'] / max(crossings, 1):.3f} | {mota:.3f} | {tot['num_ids']} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
