"""Report text that describes the set-up (data, scale, budget) and every row's recipe."""
import os.path as osp
from typing import List

from benchmarks.learning_benchmark.data import FAMILIES, TRAIN_JSON, data_stats
from benchmarks.learning_benchmark.rows import (ER_CFG, RTMO_CFG, ROWS, SPLITS,
                                                YOLOXPOSE_CFG)


def setup_lines(b: dict, meta: dict, data_dir: str, results) -> List[str]:
    S = b['input']
    iters = sorted({r.get('iters') for rs in results.values() for r in rs.values()
                    if r.get('iters')})
    st = data_stats(data_dir, list(SPLITS), S) if osp.isfile(osp.join(data_dir, TRAIN_JSON)) \
        else {}
    fam = b.get('family', 'figures')
    L = ['## Setup', '',
         f"* Data family `{fam}` (`--family`; choices are tuned on `figures`, `silhouette` "
         f"only confirms them), made by {FAMILIES[fam]}.",
         f"* Data: two synthetic splits of that family (seed {b['data_seed']} + split offset), "
         f"{b['num_train']} train + {b['num_val']} val "
         f"images each, {b['min_size']}-{b['max_size']} px:"]
    for name, kw in SPLITS.items():
        s = st.get(name)
        L.append(f"  * `{name}`: `{', '.join(f'{k}={v}' for k, v in kw.items())}`" + (
            f" -- train {s['train_images']} images / {s['train_people']} people; val "
            f"{s['val_images']} images / {s['val_people']} people, crowd index classes "
            f"easy/medium/hard {s['val_easy']}/{s['val_medium']}/{s['val_hard']} images (mean "
            f"{s['val_mean_crowd_index']}); val box heights {s['val_cells_p10']} / "
            f"{s['val_cells_p50']} / {s['val_cells_p90']} P4 cells (10th / 50th / 90th "
            'percentile)' if s else ''))
    L += ['* One training set (both splits\' train images, each row sees the same images in '
          'its own seeded order), two val sets scored separately. Crowd regions are off '
          '(`crowd_prob=0`): YOLO labels cannot express them, so every row learns from the '
          'same people.',
          f"* Scale: the input is {S}x{S} and the data are made for it, so that people span as "
          'many grid cells as COCO people do at the paper\'s 640 input (ER-Pose-n predicts on '
          'P4/P5, stride 16/32: 40x40 / 20x20 cells at 640, '
          f"{S // 16}x{S // 16} / {S // 32}x{S // 32} here). COCO numbers: the 12 people with "
          'keypoints in the COCO val2017 sample annotations (`tests/data/coco/test_coco.json` '
          'of MMPose) are 96-347 px tall at 640 input (median 219 px = 13.7 P4 cells), and '
          'their box height is about sqrt(4.45 x mask area); COCO\'s keypoint AP covers the '
          'medium (32^2-96^2 px^2 area) and large (> 96^2) people, i.e. box heights from about '
          '67 px (4.2 cells) upward, medium ending at about 203 px (12.7 cells). The splits '
          'here put people at 0.3-1.0 (mixed) / 0.3-0.8 (crowded) of the shorter side of '
          f"{b['min_size']}-{b['max_size']} px images, i.e. about 4-16 P4 cells at {S}: COCO's "
          'medium people and the smaller half of its large ones. What a 256 input cannot '
          'hold is COCO\'s largest people (16-30 cells); matching cells instead of the '
          'fraction of the image makes people big relative to the image (a 13-cell person '
          f'is 80% of a {S} image), the price of a CPU-sized input.',
          f"* Budget, the same for every trained row: input {S}, batch {b['batch']}, "
          f"{b['epochs']} epochs = {'/'.join(map(str, iters)) or '?'} iterations (the train "
          'images with people; the per-row count is in the time table), random init, '
          f"checkpoints evaluated at epochs "
          f"{', '.join(map(str, b['ckpt_epochs']))}; seeds {', '.join(map(str, meta['main_seeds']))} "
          'for the main rows (`erpose-n`, `box-iou`, every peer), '
          f"{', '.join(map(str, meta['ablation_seeds']))} for the ablations; 1 thread per run "
          '(`OMP_WAIT_POLICY=PASSIVE`), 2 runs at a time.',
          '* Metric: one function (`scoring.score_keypoints`, xtcocotools `COCOeval` as '
          'MMPose\'s `CocoMetric` calls it) on each row\'s COCO keypoint results, for MMPose '
          'and Ultralytics rows alike (Ultralytics predictions: `conf=0.001, iou=0.7, '
          'max_det=300`, score = box confidence).', '']
    return L


def recipe_lines(results, b: dict) -> List[str]:
    L = ['## What each row is (recipes)', '',
         f'* ER-Pose rows: `{ER_CFG}` (ER-Pose\'s short CPU recipe: no Mosaic and no random '
         'affine, AdamW lr 0.002 (the paper\'s 0.01 x 0.2), clip-grad 10, bf16 backbone/neck '
         'with an fp32 head, channels-last, EMA momentum '
         f"{b['ema_momentum']} gamma {b['ema_gamma']}, MAH top-k 5), with data, budget and "
         f"schedule set as for every row: LinearLR warm-up {b['warmup_iters']} iterations, "
         'cosine to eta_min 1e-4 at the last iteration. Options per row:']
    for r in ROWS:
        if r.get('config') == ER_CFG and r['name'] != 'erpose-n' or r.get('source') == 'erpose-n':
            opts = ', '.join(f'`{k}={v}`' for k, v in (r.get('opts') or {}).items())
            how = "decoding of `erpose-n`'s checkpoints" if r['kind'] == 'eval' else 'trained'
            L.append(f"  * `{r['name']}` ({r.get('paper', '-')}): {r['label']}; {how}; {opts}")
    L += ["* MMPose peers, changes common to both (the ones ER-Pose's short recipe made to its "
          "own 600-epoch COCO config): their own stage-2 (no Mosaic) train pipeline for all "
          "epochs; no BatchSyncRandomResize (every row sees a fixed input); their "
          f"QuadraticWarmupLR for the same {b['warmup_iters']} iterations, then their cosine down "
          "to their eta_min (0.0002 x peer_lr_factor) at the last iteration (YOLOX-Pose's "
          "constant tail and RTMO's second cosine cycle dropped); their mode-switch hooks "
          "scaled to the run (the last-epochs switch, which adds the auxiliary box loss, "
          "for 1 epoch; RTMO's loss switch at 280/600 of the run); their ExpMomentumEMA with "
          f"ER-Pose's momentum {b['ema_momentum']} and gamma {b['ema_gamma']} instead of "
          "0.0002 / 2000. Every change is also recorded per run (`config_changes` in "
          "`results.json`)."]
    for name, cfg in (('yoloxpose-tiny', YOLOXPOSE_CFG), ('rtmo-t', RTMO_CFG)):
        seeds = results.get(name) or {}
        ch = next(iter(seeds.values())).get('config_changes') if seeds else None
        # the lr line is written here from the budget (worker versions worded it differently)
        ch = [c for c in ch or [] if not c.startswith('lr ')]
        ch.insert(0, f"lr 0.004 (its config's, for 4-8 GPUs x 32-64 images) x peer_lr_factor "
                     f"{b['peer_lr_factor']} = {0.004 * b['peer_lr_factor']:g}")
        L.append(f"* `{name}`: MMPose 1.3.2's `{cfg}`, its model, losses, assigner, "
                 'optimizer type, clip-grad and decoding kept; changed: data -> the benchmark '
                 f"data, every input size -> {b['input']}, batch {b['batch']}, epochs "
                 f"{b['epochs']}, backbone `init_cfg=None`" +
                 '; ' + '; '.join(ch) + '.')
    yl = next((r for n in ('yolov8n-pose', 'yolo26n-pose') for r in (results.get(n) or {})
               .values()), None)
    args = yl.get('train_args') if yl else None
    L += ['* Ultralytics rows (`yolov8n-pose`, `yolo26n-pose`): `YOLO("<model>.yaml")` (random '
          'init) trained by the Ultralytics trainer on the same images (COCO json converted to '
          'YOLO labels); changed from its defaults: no Mosaic (`mosaic=0`), `optimizer=AdamW, '
          'lr0=0.002` (what its `auto` picks for short runs), `cos_lr=True, lrf=0.05` (cosine to '
          'ER-Pose\'s eta_min ratio), warm-up of the same iterations, `nbs=batch` (one step '
          'per batch), EMA decay (1 - momentum) (1 - exp(-t / gamma)) with ER-Pose\'s momentum '
          'and gamma; its other augmentations (HSV, translate, scale 0.5, flip) kept. '
          '`yolo26n-pose` is decoded NMS-free (`nms=False`, one-to-one head), '
          '`yolo26n-pose-nms` is the same weights with the one-to-many head + NMS.' +
          (f" Arguments: `{args}`." if args else ''), '']
    return L
