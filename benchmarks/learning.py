#!/usr/bin/env python
"""Learning benchmark (issue #3): ER-Pose-n, its ablations and its peers at ONE fixed CPU
training budget, scored by ONE COCO keypoint metric.

Every row trains from random initialisation on the same synthetic multi-person data
(``erpose_mm.datasets.generate_synthetic_coco``, easy difficulty: at this budget the
medium set leaves every row near AP 0), at the same input size,
batch size, number of epochs (so the same number of iterations and of images seen) and
seed, and is evaluated on the same val json:

* ER-Pose-n, default recipe (``configs/erpose/erpose-n_synthetic-256.py``: 256 input, no
  Mosaic, AdamW) and its ablations -- Table III (box branch + IoU-driven assignment; box
  branch + keypoint-driven assignment), Table VII (SAH-only training; MAH + OKS-NMS
  inference on the default checkpoint), Table VIII (alpha/beta of the assignment score),
  Table IX (SOKS / Gaussian-OKS / Laplace pose loss) and the soft-vs-hard confidence target.
* the in-ecosystem peers of MMPose 1.3.2, built from MMPose's own configs with only the
  data, the budget and the input size changed (backbone ``init_cfg=None``: random init):
  YOLOX-Pose-tiny and RTMO-t (its body7 config, trained on the COCO-format data).
* Ultralytics YOLOv8n-pose and YOLO26n-pose, from their yaml (random init), trained by the
  Ultralytics trainer in the optional peers venv (``benchmarks/setup_peers_env.sh`` ->
  ``.bench_venv``) on the same images converted to YOLO pose labels; their predictions on
  the val images are converted to COCO keypoint results. Without the peers venv those rows
  are reported as "not run".

All rows are scored by the same function (pycocotools ``COCOeval(..., 'keypoints')`` on the
val json and the row's COCO keypoint results json); for the MMPose rows the CocoMetric
numbers of ``runner.test()`` are kept beside them as a cross-check.

Schedules: MMPose configs define their LR schedule, mode-switch epochs and "last epochs
without Mosaic" for hundreds of epochs; here each of them is scaled to the budget in
proportion (epoch e of an E0-epoch config -> iteration round(e / E0 * E * iters_per_epoch)).
Ultralytics runs with its own defaults for ``epochs=E`` except ``nbs=batch`` (so that it
takes one optimizer step per batch like every other row; ``--yolo-nbs 64`` restores its
gradient accumulation).

    .venv/bin/python benchmarks/learning.py                 # full run (~1 h on 2 quiet cores)
    .venv/bin/python benchmarks/learning.py --jobs 2 --threads 1   # same, two rows at a time
    .venv/bin/python benchmarks/learning.py --quick         # smoke run, tiny (a few minutes)
    .venv/bin/python benchmarks/learning.py --only erpose-n,sah-only,mah-nms
    .venv/bin/python benchmarks/learning.py --list          # row names and groups

Finished rows are cached in ``WORK_DIR/results.json`` (keyed by the budget), so an
interrupted run continues where it stopped; ``--rerun NAME[,NAME]`` recomputes rows.
Outputs: the table on stdout, ``docs/learning_benchmark.md`` and ``docs/learning_benchmark.png``
(``--quick`` writes them into its work dir instead, so smoke numbers never land in docs/).
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.abspath(__file__)
DEFAULT_BENCH_PY = os.environ.get('BENCH_PYTHON') or osp.join(ROOT, '.bench_venv', 'bin', 'python')
ER_CFG = 'configs/erpose/erpose-n_synthetic-256.py'
YOLOXPOSE_CFG = 'body_2d_keypoint/yoloxpose/coco/yoloxpose_tiny_4xb64-300e_coco-416.py'
RTMO_CFG = 'body_2d_keypoint/rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py'
TRAIN_JSON = 'annotations/person_keypoints_train.json'
VAL_JSON = 'annotations/person_keypoints_val.json'
# COCO left/right keypoint swap (Ultralytics' flip_idx)
FLIP_IDX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]

# --------------------------------------------------------------------------------- budgets
FULL = dict(num_train=400, num_val=100, min_size=256, max_size=416, difficulty='easy',
            data_seed=0, seed=0, input=256, batch=8, epochs=8, workers=1)
QUICK = dict(num_train=12, num_val=6, min_size=128, max_size=192, difficulty='medium',
             data_seed=0, seed=0, input=128, batch=4, epochs=2, workers=0)
BUDGET_KEYS = tuple(FULL)

# --------------------------------------------------------------------------------- rows
# kind: 'mm' (MMPose/MMEngine training + test), 'mm-eval' (test of another row's
# checkpoint), 'yolo' (Ultralytics training + prediction), 'yolo-eval' (prediction variant
# of another Ultralytics row's weights).
OKS_NMS = {'model.test_cfg.branch': 'one2many', 'model.test_cfg.nms_thr': 0.65,
           'model.test_cfg.nms_pre': 1000}


def _ab(alpha, beta):
    return {f'model.head.assigner_{b}.{k}': v for b in ('one2many', 'one2one')
            for k, v in (('alpha', alpha), ('beta', beta))}


ROWS = [
    dict(name='erpose-n', paper_ap=57.1, kind='mm', config=ER_CFG, group='ER-Pose-n',
         label='ER-Pose-n (default: MAH+SAH, keypoint-driven, SOKS, soft conf target, a=0.5 b=6)',
         paper='Tab. III-IX last/selected row'),
    dict(name='box-iou', paper_ap=50.4, kind='mm', config=ER_CFG, group='Table III',
         label='box branch + IoU-driven assignment (box-driven baseline)', paper='Tab. III row 1',
         opts={'model.head.with_bbox': True, 'model.head.assigner_one2many.metric': 'iou',
               'model.head.assigner_one2one.metric': 'iou'}),
    dict(name='box-oks', paper_ap=54.7, kind='mm', config=ER_CFG, group='Table III',
         label='box branch + keypoint-driven assignment', paper='Tab. III row 2',
         opts={'model.head.with_bbox': True}),
    dict(name='sah-only', paper_ap=53.1, kind='mm', config=ER_CFG, group='Table VII',
         label='SAH-only training (no MAH)', paper='Tab. VII row 1',
         opts={'model.head.with_one2many': False}),
    dict(name='mah-nms', paper_ap=56.6, kind='mm-eval', source='erpose-n', config=ER_CFG,
         group='Table VII',
         label='MAH + OKS-NMS (thr 0.65) at inference, default checkpoint',
         paper='Tab. VII row 2', opts=OKS_NMS),
    dict(name='ab-0.5-0', paper_ap=50.7, kind='mm', config=ER_CFG, group='Table VIII',
         label='assignment alpha=0.5, beta=0 (confidence only)', paper='Tab. VIII',
         opts=_ab(0.5, 0.0)),
    dict(name='ab-1.0-6', paper_ap=54.3, kind='mm', config=ER_CFG, group='Table VIII',
         label='assignment alpha=1.0, beta=6', paper='Tab. VIII', opts=_ab(1.0, 6.0)),
    dict(name='loss-gaussian', paper_ap=56.1, kind='mm', config=ER_CFG, group='Table IX',
         label='Gaussian-OKS pose loss', paper='Tab. IX',
         opts={'model.head.loss_pose.mode': 'gaussian'}),
    dict(name='loss-laplace', paper_ap=55.7, kind='mm', config=ER_CFG, group='Table IX',
         label='Laplace pose loss', paper='Tab. IX', opts={'model.head.loss_pose.mode': 'laplace'}),
    dict(name='conf-hard', kind='mm', config=ER_CFG, group='design',
         label="hard (0/1) confidence target instead of soft (TAL-style)", paper='-',
         opts={'model.head.conf_target': 'hard'}),
    dict(name='sep-regression', kind='mm', config=ER_CFG, group='design',
         label='separate SAH/MAH keypoint branches (YOLOv10 layout) instead of shared',
         paper='-', opts={'model.head.share_regression': False}),
    dict(name='oks-area', kind='mm', config=ER_CFG, group='design',
         label="person scale s^2 = annotation (mask) area instead of the box area",
         paper='-', opts={'model.head.oks_scale': 'area'}),
    dict(name='no-kpt-prior', kind='mm', config=ER_CFG, group='design',
         label='keypoint offsets start at the cell centre (zero init) instead of a standing pose',
         paper='-', opts={'model.head.kpt_prior_height': None}),
    dict(name='yoloxpose-tiny', kind='mm', config='mmpose::' + YOLOXPOSE_CFG, peer=True,
         group='MMPose peers', label='YOLOX-Pose-tiny (MMPose 1.3.2 config)', paper='-'),
    dict(name='rtmo-t', kind='mm', config='mmpose::' + RTMO_CFG, peer=True,
         group='MMPose peers', label='RTMO-t (MMPose 1.3.2 body7 config, COCO-format data)',
         paper='-'),
    dict(name='yolov8n-pose', kind='yolo', model='yolov8n-pose.yaml', group='Ultralytics',
         label='YOLOv8n-pose (Ultralytics, from yaml; NMS)', paper='-',
         predict={'nms': None}),
    dict(name='yolo26n-pose', kind='yolo', model='yolo26n-pose.yaml', group='Ultralytics',
         label='YOLO26n-pose (Ultralytics, from yaml; one-to-one head, nms=False)', paper='-',
         predict={'nms': False}),
    dict(name='yolo26n-pose-nms', kind='yolo-eval', source='yolo26n-pose', group='Ultralytics',
         label='YOLO26n-pose, one-to-many head + NMS (Ultralytics default nms=None)',
         paper='-', predict={'nms': None}),
]
ROW_BY_NAME = {r['name']: r for r in ROWS}
GROUP_ALIASES = {
    'erpose': [r['name'] for r in ROWS if r.get('config') == ER_CFG],
    'ablations': [r['name'] for r in ROWS if r.get('config') == ER_CFG and r['name'] != 'erpose-n'],
    'peers': [r['name'] for r in ROWS if r.get('peer') or r['kind'].startswith('yolo')],
    'mmpose-peers': [r['name'] for r in ROWS if r.get('peer')],
    'yolo': [r['name'] for r in ROWS if r['kind'].startswith('yolo')],
}


def log(*a):
    print('[learning]', *a, file=sys.stderr, flush=True)


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float('nan')


def budget_sig(b: dict) -> str:
    return json.dumps({k: b[k] for k in BUDGET_KEYS}, sort_keys=True)


def iters_per_epoch(b: dict) -> int:
    return math.ceil(b['num_train'] / b['batch'])


# ================================================================================ data
def make_data(work_dir: str, b: dict) -> str:
    """Synthetic COCO data for the budget, regenerated only when its parameters change."""
    root = osp.join(work_dir, 'data')
    stamp = osp.join(root, 'stamp.json')
    want = {k: b[k] for k in ('num_train', 'num_val', 'min_size', 'max_size', 'difficulty',
                              'data_seed')}
    if osp.isfile(stamp) and json.load(open(stamp)) == want and \
            osp.isfile(osp.join(root, VAL_JSON)):
        return root + '/'
    if osp.isdir(root):
        shutil.rmtree(root)
    sys.path.insert(0, ROOT)
    from erpose_mm.datasets import generate_synthetic_coco
    t = time.time()
    s = generate_synthetic_coco(root, num_train=b['num_train'], num_val=b['num_val'],
                                seed=b['data_seed'], min_size=b['min_size'],
                                max_size=b['max_size'], difficulty=b['difficulty'],
                                progress=False)
    log(f"data: {s['train']['num_images']} train images ({s['train']['num_persons']} people), "
        f"{s['val']['num_images']} val ({s['val']['num_persons']} people) "
        f"in {time.time() - t:.0f}s")
    with open(stamp, 'w') as f:
        json.dump(want, f)
    return root + '/'


def data_stats(data_root: str) -> dict:
    out = {}
    for split, ann in (('train', TRAIN_JSON), ('val', VAL_JSON)):
        d = json.load(open(osp.join(data_root, ann)))
        anns = d['annotations']
        out[split] = dict(images=len(d['images']),
                          annotated=len({a['image_id'] for a in anns}),
                          people=sum(1 for a in anns if not a.get('iscrowd')),
                          crowd=sum(1 for a in anns if a.get('iscrowd')))
    return out


def coco_to_yolo(data_root: str) -> str:
    """COCO keypoints json -> Ultralytics pose dataset (labels + data yaml).

    ``DATA/yolo/images/{train,val}`` are links to the COCO image folders, listed in
    ``{train,val}.txt`` (train: the images with >= 1 annotation, as MMPose's bottom-up
    dataset; val: all); labels are
    ``class cx cy w h`` (normalised) + 17 x ``(x, y, v)`` (normalised, COCO visibility kept;
    v=0 points are written as 0 0 0). Crowd regions (iscrowd=1) have no YOLO equivalent and
    are left out, as Ultralytics' own COCO converter does."""
    yroot = osp.join(data_root, 'yolo')
    yaml_path = osp.join(yroot, 'data.yaml')
    if osp.isfile(yaml_path):
        return yaml_path
    for split, ann in (('train', TRAIN_JSON), ('val', VAL_JSON)):
        d = json.load(open(osp.join(data_root, ann)))
        img_dir = osp.join(yroot, 'images')
        lab_dir = osp.join(yroot, 'labels', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(lab_dir, exist_ok=True)
        link = osp.join(img_dir, split)
        if not osp.lexists(link):
            os.symlink(osp.join(osp.abspath(data_root), split), link)
        by_img: Dict[int, list] = {im['id']: [] for im in d['images']}
        annotated = {a['image_id'] for a in d['annotations']}
        for a in d['annotations']:
            if not a.get('iscrowd'):
                by_img[a['image_id']].append(a)
        listed = []
        for im in d['images']:
            # MMPose's bottom-up training set holds only images with >= 1 annotation; list the
            # same images for Ultralytics so that both see the same images per epoch
            if split == 'val' or im['id'] in annotated:
                listed.append(osp.join(link, im['file_name']))
            W, H = float(im['width']), float(im['height'])
            lines = []
            for a in by_img[im['id']]:
                x, y, w, h = a['bbox']
                if w <= 0 or h <= 0:
                    continue
                vals = [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H]
                k = a['keypoints']
                for i in range(0, len(k), 3):
                    v = int(k[i + 2])
                    vals += [k[i] / W, k[i + 1] / H, v] if v > 0 else [0.0, 0.0, 0]
                lines.append('0 ' + ' '.join(f'{v:.6f}' if isinstance(v, float) else str(v)
                                             for v in vals))
            stem = osp.splitext(im['file_name'])[0]
            with open(osp.join(lab_dir, stem + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + ('\n' if lines else ''))
        with open(osp.join(yroot, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(listed) + '\n')
    with open(yaml_path, 'w') as f:
        f.write(f'path: {osp.abspath(yroot)}\ntrain: train.txt\nval: val.txt\n'
                f'kpt_shape: [17, 3]\nflip_idx: {FLIP_IDX}\nnames:\n  0: person\n')
    return yaml_path


# ================================================================================ scoring
METRIC_NAMES = ('AP', 'AP50', 'AP75', 'AP_M', 'AP_L', 'AR', 'AR50', 'AR75', 'AR_M', 'AR_L')


def coco_keypoint_scores(gt_json: str, results: list) -> dict:
    """pycocotools COCOeval('keypoints') -- what MMPose's CocoMetric computes (it calls the
    same evaluation through xtcocotools with the COCO sigmas)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    if not results:
        return {k: 0.0 for k in METRIC_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_json)
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, 'keypoints')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(max(v, 0.0)) for k, v in zip(METRIC_NAMES, ev.stats)}


# ================================================================================ MMPose worker
def _walk(obj, fn):
    """Apply ``fn(key, value) -> value`` to every (key, value) of nested dicts / lists."""
    if isinstance(obj, dict):
        for k in list(obj):
            obj[k] = fn(k, obj[k])
            _walk(obj[k], fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, fn)


def scaled_range(S: int, test: int = 416, rng=(320, 640), div: int = 32):
    """BatchSyncRandomResize range of a peer config, scaled like its test size."""
    return tuple(max(div, int(round(v * S / test / div)) * div) for v in rng)


def _dicts(obj, fn):
    """Call ``fn(d)`` on every dict nested in ``obj`` (dicts and lists)."""
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _dicts(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _dicts(v, fn)


def build_mm_cfg(spec: dict):
    """The row's config: the model's own config file with only the data, the budget (epochs,
    batch, schedule scaled to it), the input size and (peers) the backbone init changed."""
    from mmengine.config import Config
    b, D, S = spec['budget'], spec['data_root'], spec['budget']['input']
    src = spec['config']
    if src.startswith('mmpose::'):
        import mmpose
        src = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', src[len('mmpose::'):])
    else:
        src = osp.join(ROOT, src)
    d = Config.fromfile(src).to_dict()
    E0, E = d['train_cfg']['max_epochs'], b['epochs']
    ipe = iters_per_epoch(b)
    f = E / E0

    # ---- input size: every input_size / img_scale, and the multi-scale batch resize range
    # scaled by the same factor as the test size (peers: 416 -> S)
    test_size = None
    for t in d['val_dataloader']['dataset'].get('pipeline', []):
        if t.get('type') == 'BottomupResize':
            test_size = t['input_size'][0]

    def set_size(k, v):
        if k in ('input_size', 'img_scale') and isinstance(v, (list, tuple)) and len(v) == 2:
            return (S, S)
        return v
    _walk(d, set_size)
    for aug in d['model'].get('data_preprocessor', {}).get('batch_augments', None) or []:
        if aug.get('type') == 'BatchSyncRandomResize':
            aug['random_size_range'] = scaled_range(S, test_size, aug['random_size_range'],
                                                    aug.get('size_divisor', 32))
    fixes = []
    if spec.get('peer'):
        d['model']['backbone']['init_cfg'] = None  # no downloads: random init

        # yoloxpose_tiny_*.py (MMPose 1.3.2) passes `extra_mapping_labels` (an MMYOLO
        # argument) to PackPoseInputs, whose 1.3.2 signature has no such argument: the
        # config does not build. The codec already sets the same label mapping, so drop it.
        def drop_extra(t):
            if t.get('type') == 'PackPoseInputs' and 'extra_mapping_labels' in t:
                t.pop('extra_mapping_labels')
                if 'PackPoseInputs(extra_mapping_labels) removed' not in fixes:
                    fixes.append('PackPoseInputs(extra_mapping_labels) removed')
        _dicts(d, drop_extra)

    # ---- data
    def coco(split, pipeline, extra=None):
        ds = dict(type='CocoDataset', data_root=D, data_mode='bottomup',
                  ann_file=TRAIN_JSON if split == 'train' else VAL_JSON,
                  data_prefix=dict(img=f'{split}/'), pipeline=pipeline)
        ds.update(extra or {})
        return ds
    tds = d['train_dataloader']['dataset']
    keep = {k: tds[k] for k in ('filter_cfg', 'metainfo') if k in tds}
    d['train_dataloader'].update(
        batch_size=b['batch'], num_workers=b['workers'], persistent_workers=False,
        pin_memory=False, sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=coco('train', tds['pipeline'], keep))
    vds = d['test_dataloader']['dataset']
    d['test_dataloader'].update(
        batch_size=8, num_workers=0, persistent_workers=False, pin_memory=False,
        dataset=coco('val', vds['pipeline'], dict(test_mode=True)))
    d['test_evaluator'] = dict(d['val_evaluator'], ann_file=D + VAL_JSON)
    for k in ('val_dataloader', 'val_evaluator', 'val_cfg'):
        d[k] = None  # evaluation happens once, after training
    d['train_cfg'] = dict(type='EpochBasedTrainLoop', max_epochs=E, val_interval=E + 1)

    # ---- schedule scaled to the budget (epoch e of E0 -> iteration round(e/E0*E*ipe))
    total = E * ipe

    def it(e):
        return int(round(e * f * ipe))
    scheds = []
    for s in d.get('param_scheduler') or []:
        s = dict(s)
        if s.get('by_epoch', True):
            begin, end = it(s.get('begin', 0)), min(it(s.get('end', E0)), total)
            if 'T_max' in s:
                s['T_max'] = max(1, it(s['T_max']))
            s.update(begin=begin, end=max(end, begin + 1), by_epoch=False)
            s.pop('convert_to_iter_based', None)
            if begin >= total:
                continue
        scheds.append(s)
    d['param_scheduler'] = scheds
    hooks = []
    for h in d.get('custom_hooks') or []:
        h = copy.deepcopy(h)
        if h['type'] in ('LastEpochsPipelineSwitchHook', 'YOLOXPoseModeSwitchHook'):
            # at least one epoch before and one epoch after the switch
            h['num_last_epochs'] = min(max(1, int(h['num_last_epochs'] * f + 0.5)), max(E - 1, 1))
            if h.get('new_train_dataset'):
                h['new_train_dataset'] = coco('train', [], keep)
        elif h['type'] == 'RTMOModeSwitchHook':
            h['epoch_attributes'] = {min(int(int(e) * f + 0.5), E - 1): v
                                     for e, v in h['epoch_attributes'].items()}
        hooks.append(h)
    d['custom_hooks'] = hooks
    d['default_hooks']['checkpoint'] = dict(type='CheckpointHook', interval=E, max_keep_ckpts=1,
                                            save_best=None, save_last=True)
    d['default_hooks']['logger'] = dict(type='LoggerHook', interval=max(1, min(50, ipe)))
    d['randomness'] = dict(seed=b['seed'])
    d['auto_scale_lr'] = dict(enable=False, base_batch_size=d.get('auto_scale_lr', {}).get(
        'base_batch_size', 256))
    d['load_from'], d['resume'] = None, False
    cfg = Config(d, filename=src)
    if spec.get('opts'):
        cfg.merge_from_dict(spec['opts'])
    cfg.benchmark_fixes = fixes
    return cfg


def _mm_runner(cfg, work_dir: str, tag: str):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.experiment_name = tag
    if cfg.get('visualizer'):
        cfg.visualizer.name = 'vis_' + tag
    return Runner.from_cfg(cfg)


def worker_mm(spec: dict) -> None:
    """Train (unless ``spec['checkpoint']``) and test one MMPose/MMEngine row in-process."""
    sys.path.insert(0, ROOT)
    import torch
    torch.set_num_threads(spec['threads'])
    import erpose_mm  # noqa: F401  (registry + compat adapters)
    from mmengine.hooks import Hook

    out_dir = spec['out_dir']
    cfg = build_mm_cfg(spec)
    result = dict(config=cfg.filename, config_fixes=list(cfg.get('benchmark_fixes', [])))
    ckpt = spec.get('checkpoint')
    if not ckpt:
        class Timer(Hook):
            priority = 'VERY_HIGH'  # before_train_epoch first, after_train_epoch before saving

            def __init__(self):
                self.train_s, self.images, self.iters, self.epochs = 0.0, 0, 0, []

            def before_train_epoch(self, runner):
                self.t0 = time.perf_counter()

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                self.iters += 1
                self.images += len(data_batch['inputs']) if data_batch else 0

            def after_train_epoch(self, runner):
                dt = time.perf_counter() - self.t0
                self.epochs.append(round(dt, 2))
                self.train_s += dt

        runner = _mm_runner(cfg, osp.join(out_dir, 'train'), 'train_' + spec['name'])
        timer = Timer()
        runner.register_hook(timer)
        model = runner.model
        result['params'] = sum(p.numel() for p in model.parameters())
        head = getattr(model, 'head', None)
        if getattr(head, 'one2many', None) is not None:
            # only what the MAH does not share with the SAH (share_regression) goes
            kept = {id(p) for n, p in model.named_parameters(remove_duplicate=False)
                    if not n.startswith('head.one2many.')}
            result['params_infer'] = result['params'] - sum(
                p.numel() for p in head.one2many.parameters() if id(p) not in kept)
        t = time.perf_counter()
        runner.train()
        result.update(train_s=round(timer.train_s, 1), wall_s=round(time.perf_counter() - t, 1),
                      iters=timer.iters, images_seen=timer.images, epoch_s=timer.epochs)
        ckpt = osp.join(out_dir, 'train', f'epoch_{spec["budget"]["epochs"]}.pth')
        result['checkpoint'] = ckpt
        del runner
    cfg.load_from = ckpt
    cfg.test_evaluator.outfile_prefix = osp.join(out_dir, 'preds')
    runner = _mm_runner(cfg, osp.join(out_dir, 'test'), 'test_' + spec['name'])
    t = time.perf_counter()
    metrics = runner.test()
    result['test_s'] = round(time.perf_counter() - t, 1)
    result['cocometric'] = {k: float(v) for k, v in metrics.items()}
    result['preds'] = osp.join(out_dir, 'preds.keypoints.json')
    with open(osp.join(out_dir, 'worker_result.json'), 'w') as f:
        json.dump(result, f, indent=1)


# ================================================================================ Ultralytics
def worker_yolo(spec: dict) -> None:
    """Runs in the peers venv: train an Ultralytics pose model from its yaml (unless
    ``spec['weights']``) and predict the val images with each variant."""
    import torch
    torch.set_num_threads(spec['threads'])
    from ultralytics import YOLO
    b, out_dir = spec['budget'], spec['out_dir']
    result = {}
    weights = spec.get('weights')
    if not weights:
        torch.manual_seed(b['seed'])
        model = YOLO(spec['model'])
        state = dict(train_s=0.0, epochs=[])

        def ep_start(tr):
            state['t0'] = time.perf_counter()

        def ep_end(tr):
            dt = time.perf_counter() - state['t0']
            state['epochs'].append(round(dt, 2))
            state['train_s'] += dt

        def train_start(tr):
            state['n_train'] = len(tr.train_loader.dataset)
            state['nb'] = len(tr.train_loader)
            state['params'] = sum(p.numel() for p in tr.model.parameters())
        model.add_callback('on_train_start', train_start)
        model.add_callback('on_train_epoch_start', ep_start)
        model.add_callback('on_train_epoch_end', ep_end)
        t = time.perf_counter()
        model.train(data=spec['data_yaml'], epochs=b['epochs'], imgsz=b['input'],
                    batch=b['batch'], nbs=spec['nbs'], workers=b['workers'], device='cpu',
                    seed=b['seed'], deterministic=True, val=False, plots=False, amp=False,
                    pretrained=False, project=out_dir, name='train', exist_ok=True,
                    verbose=False)
        weights = osp.join(out_dir, 'train', 'weights', 'last.pt')
        result.update(train_s=round(state['train_s'], 1), wall_s=round(time.perf_counter() - t, 1),
                      epoch_s=state['epochs'], params=state.get('params'),
                      iters=state.get('nb', 0) * b['epochs'],
                      images_seen=state.get('n_train', 0) * b['epochs'], checkpoint=weights)
    model = YOLO(weights)
    preds = []
    t = time.perf_counter()
    kw = dict(imgsz=b['input'], conf=0.001, iou=0.7, max_det=300, device='cpu', verbose=False,
              stream=True)
    if spec['predict'].get('nms') is not None:
        kw['nms'] = spec['predict']['nms']
    for r in model.predict(source=spec['images'], **kw):
        if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
            continue
        kp = r.keypoints.data.cpu().numpy()  # (n, 17, 3) in original-image pixels
        sc = r.boxes.conf.cpu().numpy()
        for k, s in zip(kp, sc):
            preds.append(dict(file_name=osp.basename(r.path), category_id=1,
                              keypoints=[round(float(v), 3) for v in k.reshape(-1)],
                              score=float(s)))
    result['test_s'] = round(time.perf_counter() - t, 1)
    result['preds'] = osp.join(out_dir, 'preds.keypoints.json')
    with open(result['preds'], 'w') as f:
        json.dump(preds, f)
    with open(osp.join(out_dir, 'worker_result.json'), 'w') as f:
        json.dump(result, f, indent=1)


# ================================================================================ main side
class Bench:
    def __init__(self, args, budget: dict):
        self.args, self.b = args, budget
        self.work = osp.abspath(args.work_dir)
        os.makedirs(self.work, exist_ok=True)
        self.res_path = osp.join(self.work, 'results.json')
        self.results = json.load(open(self.res_path)) if osp.isfile(self.res_path) else {}
        self.sig = budget_sig(budget)
        self.data_root = None
        self.lock = threading.RLock()

    def save(self):
        with self.lock:  # rows may finish concurrently (--jobs)
            tmp = self.res_path + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(self.results, f, indent=1)
            os.replace(tmp, self.res_path)

    def cached(self, name: str) -> Optional[dict]:
        r = self.results.get(name)
        if r and r.get('budget') == self.sig and r.get('status') == 'ok':
            return r
        return None

    def env(self) -> dict:
        e = dict(os.environ)
        n = str(self.args.threads)
        # PASSIVE: OpenMP threads sleep instead of spinning at barriers. On a busy 2-core
        # machine, spinning 2-thread training (torch 2.13 CPU) ran 5-30x slower per iteration
        # (0.8 s -> 3.5-26 s); sleeping costs little on a quiet one. Same for every row.
        e.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, PYTHONUNBUFFERED='1')
        e.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
        return e

    def _run_worker(self, cmd: List[str], row_dir: str, env: dict) -> dict:
        logf = osp.join(row_dir, 'worker.log')
        res_f = osp.join(row_dir, 'worker_result.json')
        if osp.exists(res_f):
            os.remove(res_f)
        with open(logf, 'w') as lf:
            try:
                p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=lf, stderr=subprocess.STDOUT,
                                   timeout=self.args.row_timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = 'timeout'
        if rc != 0 or not osp.isfile(res_f):
            tail = open(logf, errors='replace').read()[-3000:]
            raise RuntimeError(f'worker failed (rc={rc}), log {logf}:\n{tail}')
        return json.load(open(res_f))

    def run_row(self, row: dict) -> dict:
        name = row['name']
        row_dir = osp.join(self.work, 'rows', name)
        if row['kind'] in ('mm-eval', 'yolo-eval'):
            src = self.ensure(ROW_BY_NAME[row['source']])
            if src.get('status') != 'ok':
                return dict(status=f"not run ({row['source']} did not finish)")
        shutil.rmtree(row_dir, ignore_errors=True)
        os.makedirs(row_dir)
        spec = dict(name=name, budget=self.b, data_root=self.data_root, out_dir=row_dir,
                    threads=self.args.threads)
        t0, la0 = time.time(), loadavg()
        if row['kind'] in ('mm', 'mm-eval'):
            spec.update(config=row['config'], opts=row.get('opts', {}), peer=row.get('peer', False))
            if row['kind'] == 'mm-eval':
                spec['checkpoint'] = self.results[row['source']]['checkpoint']
            cmd = [sys.executable, SCRIPT, '--worker', 'mm', '--spec']
            env = self.env()
        else:
            py = self.args.bench_python
            if not osp.isfile(py):
                return dict(status='not run (no peers venv: bash benchmarks/setup_peers_env.sh)')
            with self.lock:  # one conversion, also when rows run concurrently (--jobs)
                data_yaml = coco_to_yolo(self.data_root)
            spec.update(model=row.get('model'), predict=row['predict'], nbs=self.args.yolo_nbs or
                        self.b['batch'], data_yaml=data_yaml,
                        images=self.val_images())
            if row['kind'] == 'yolo-eval':
                spec['weights'] = self.results[row['source']]['checkpoint']
            cmd = [py, SCRIPT, '--worker', 'yolo', '--spec']
            env = self.env()
            env.setdefault('YOLO_CONFIG_DIR', osp.join(osp.dirname(osp.dirname(py)), 'yolo_config'))
            env.update(YOLO_OFFLINE='1', YOLO_VERBOSE='False')
            env.pop('PYTHONPATH', None)
        spec_path = osp.join(row_dir, 'spec.json')
        with open(spec_path, 'w') as f:
            json.dump(spec, f, indent=1)
        log(f'{name}: running ({row["label"]}) -> {row_dir}/worker.log')
        w = self._run_worker(cmd + [spec_path], row_dir, env)
        if row['kind'] in ('mm-eval', 'yolo-eval'):
            src = self.results[row['source']]
            for k in ('train_s', 'iters', 'images_seen', 'params', 'params_infer'):
                if k in src:
                    w.setdefault(k, src[k])
            w['train_note'] = f"= {row['source']}"
        preds = json.load(open(w['preds'])) if osp.isfile(w['preds']) else []
        if row['kind'].startswith('yolo'):
            ids = {im['file_name']: im['id'] for im in
                   json.load(open(osp.join(self.data_root, VAL_JSON)))['images']}
            preds = [dict(image_id=ids[p.pop('file_name')], **p) for p in preds]
        w['scores'] = coco_keypoint_scores(osp.join(self.data_root, VAL_JSON), preds)
        w['num_preds'] = len(preds)
        w.update(status='ok', budget=self.sig, load_before=la0, load_after=loadavg(),
                 row_wall_s=round(time.time() - t0, 1), date=time.strftime('%Y-%m-%d %H:%M'))
        cm = w.get('cocometric')
        if cm and 'coco/AP' in cm:
            w['cocometric_delta_AP'] = round(cm['coco/AP'] - w['scores']['AP'], 4)
        return w

    def run_all(self, names: List[str]) -> None:
        """Run the rows; with ``--jobs N`` up to N training rows at once (each with
        ``--threads`` threads), evaluation-only rows after their source."""
        jobs = max(1, self.args.jobs)
        if jobs == 1:
            for n in names:
                self.ensure(ROW_BY_NAME[n])
            return
        from concurrent.futures import ThreadPoolExecutor
        first = [n for n in names if ROW_BY_NAME[n]['kind'] in ('mm', 'yolo')]
        # the eval rows' sources must be trained first (they may not be in ``names``)
        for n in names:
            src = ROW_BY_NAME[n].get('source')
            if src and src not in first:
                first.append(src)
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda n: self.ensure(ROW_BY_NAME[n]), first))
        for n in names:
            if n not in first:
                self.ensure(ROW_BY_NAME[n])

    def val_images(self) -> List[str]:
        d = json.load(open(osp.join(self.data_root, VAL_JSON)))
        return [osp.join(self.data_root, 'val', im['file_name']) for im in d['images']]

    def ensure(self, row: dict) -> dict:
        name = row['name']
        if name not in self.args.rerun_set:
            c = self.cached(name)
            if c:
                return c
        try:
            r = self.run_row(row)
        except Exception as e:  # keep going with the other rows
            log(f'{name}: FAILED: {e}')
            r = dict(status=f'failed: {str(e).splitlines()[0][:120]}')
        r['name'] = name
        r.setdefault('budget', self.sig)
        # the code a row was trained with: cached rows survive code changes (--rerun them)
        r.setdefault('commit', code_version())
        with self.lock:
            self.args.rerun_set.discard(name)
            self.results[name] = r
            if r.get('status') == 'ok' and row['kind'] in ('mm', 'yolo'):
                # evaluation-only rows of this row's old checkpoint are stale now
                for dep in ROWS:
                    if dep.get('source') == name:
                        self.results.pop(dep['name'], None)
        if r.get('status') == 'ok':
            s = r['scores']
            log(f"{name}: AP {s['AP']:.3f} AP50 {s['AP50']:.3f} AR {s['AR']:.3f} "
                f"train {r.get('train_s', float('nan'))}s")
        self.save()
        return r


def code_version() -> str:
    """Short git commit of this checkout, '+dirty' when tracked files differ from it."""
    try:
        c = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, text=True,
                           capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return c + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


# ================================================================================ report
def fmt(v, nd=3):
    return '-' if v is None else (f'{v:.{nd}f}' if isinstance(v, float) else str(v))


def run_time_note(res: dict, ok: List[str]) -> str:
    """The measured cost of the full run, from the rows' own wall times."""
    def wall(n):
        return res[n].get('row_wall_s', res[n]['wall_s'])
    trained = [n for n in ok if res[n].get('wall_s')]
    if not trained:
        return '* Run time: no trained rows yet.'
    tot = sum(wall(n) for n in trained) / 60
    er = [wall(n) / 60 for n in trained if ROW_BY_NAME[n]['kind'] == 'mm'
          and not ROW_BY_NAME[n].get('peer')]
    er_s = f'ER-Pose rows {min(er):.0f}-{max(er):.0f} min each, ' if er else ''
    return (f'* Run time, measured (rows\' wall time, training + evaluation): {len(trained)} '
            f'trained rows, {er_s}{tot:.0f} min in all as they ran here (mostly 2 rows at once '
            f'with 1 thread each), i.e. about {tot / 2 / 60:.1f} h of wall time with `--jobs 2` on '
            '2 cores. `--only` runs a subset; `--quick` is the minutes-long smoke run.')


def code_note(res: dict, ok: List[str]) -> str:
    """Which code (git commit) each row was computed with; rows are cached across commits."""
    by = {}
    for n in ok:
        by.setdefault(res[n].get('commit', 'not recorded (before commit tracking)'), []).append(n)
    return ('* Code: cached rows are reused across code changes (recompute with `--rerun`); '
            'rows by the commit they ran at: ' +
            '; '.join(f"{c}: {', '.join(ns)}" for c, ns in by.items()) + '.')


def table_rows(results: dict, names: List[str]) -> List[list]:
    out = []
    for n in names:
        row, r = ROW_BY_NAME[n], results.get(n, {})
        s = r.get('scores') if r.get('status') == 'ok' else None
        params = r.get('params_infer', r.get('params'))
        cells = [n, row['group'], row['label']]
        if s:
            cells += [fmt(100 * s['AP'], 1), fmt(100 * s['AP50'], 1), fmt(100 * s['AP75'], 1),
                      fmt(100 * s['AR'], 1),
                      (fmt(r.get('train_s'), 0) + (' (' + r['train_note'] + ')'
                                                    if r.get('train_note') else '')),
                      fmt(r.get('images_seen')), fmt(r.get('iters')),
                      fmt(params / 1e6 if params else None, 2)]
        else:
            cells += [r.get('status', 'not run')] + [''] * 7
        cells.append(fmt(row.get('paper_ap'), 1))
        out.append(cells)
    return out


def measured_order(results: dict, paper_order: List[str]) -> str:
    """The rows of ``paper_order`` (the paper's order, lowest AP first) as measured here,
    e.g. "here: box-iou 4.3 < erpose-n 11.7 < box-oks 13.9 (not the paper's order)"."""
    aps = {}
    for n in paper_order:
        r = results.get(n, {})
        if r.get('status') != 'ok' or not r.get('scores'):
            return 'here: not all of these rows ran'
        aps[n] = 100 * r['scores']['AP']
    ranked = sorted(paper_order, key=lambda n: aps[n])
    same = ranked == list(paper_order)
    return ('here: ' + ' < '.join(f'`{n}` {aps[n]:.1f}' for n in ranked) +
            (" (the paper's order)" if same else " (not the paper's order)"))


HEADER = ['row', 'group', 'what', 'AP', 'AP50', 'AP75', 'AR', 'train s', 'images seen',
          'iters', 'params (M)', 'paper AP']


def print_table(results: dict, names: List[str]) -> str:
    rows = table_rows(results, names)
    rows = [[c if i != 2 else c[:60] for i, c in enumerate(r)] for r in rows]
    w = [max(len(str(x)) for x in col) for col in zip(HEADER, *rows)]
    lines = ['  '.join(str(x).ljust(w[i]) for i, x in enumerate(HEADER))]
    lines.append('  '.join('-' * n for n in w))
    for r in rows:
        lines.append('  '.join(str(x).ljust(w[i]) for i, x in enumerate(r)))
    return '\n'.join(lines)


def plot(results: dict, names: List[str], path: str, title: str) -> bool:
    ok = [n for n in names if results.get(n, {}).get('status') == 'ok']
    if not ok:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    colors = {'ER-Pose-n': '#d62728', 'Table III': '#ff7f0e', 'Table VII': '#bcbd22',
              'Table VIII': '#9467bd', 'Table IX': '#8c564b', 'design': '#e377c2',
              'MMPose peers': '#1f77b4', 'Ultralytics': '#17becf'}
    x = np.arange(len(ok))
    ap = [100 * results[n]['scores']['AP'] for n in ok]
    ar = [100 * results[n]['scores']['AR'] for n in ok]
    fig, ax = plt.subplots(figsize=(max(8, 0.75 * len(ok) + 2), 4.8))
    c = [colors.get(ROW_BY_NAME[n]['group'], 'gray') for n in ok]
    ax.bar(x - 0.2, ap, 0.4, color=c, label='AP')
    ax.bar(x + 0.2, ar, 0.4, color=c, alpha=0.45, hatch='//', label='AR')
    for i, v in enumerate(ap):
        ax.text(i - 0.2, v, f'{v:.1f}', ha='center', va='bottom', fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(ok, rotation=35, ha='right', fontsize=8)
    ax.set_ylim(0, max(5.0, 1.15 * max(ap + ar)))
    ax.set_ylabel('COCO keypoint AP / AR (%)')
    ax.set_title(title, fontsize=9)
    from matplotlib.patches import Patch
    groups = list(dict.fromkeys(ROW_BY_NAME[n]['group'] for n in ok))
    handles = [Patch(color=colors.get(g, 'gray'), label=g) for g in groups]
    handles += [Patch(facecolor='white', edgecolor='k', label='AP (solid) / AR (hatched)')]
    ax.legend(handles=handles, fontsize=7, ncol=2)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def versions(bench_py: str) -> dict:
    v = {}
    from importlib import metadata
    for mod in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmpose', 'pycocotools'):
        try:
            v[mod] = metadata.version(mod)
        except Exception:
            pass
    if osp.isfile(bench_py):
        try:
            out = subprocess.run([bench_py, '-c', 'import ultralytics, torch; '
                                  'print(ultralytics.__version__, torch.__version__)'],
                                 capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, YOLO_OFFLINE='1')).stdout.split()
            v['ultralytics'], v['torch (peers venv)'] = out[-2], out[-1]
        except Exception:
            pass
    return v


def command_lines(args) -> List[str]:
    return ['.venv/bin/python benchmarks/learning.py            # full run, writes this file',
            '.venv/bin/python benchmarks/learning.py --quick    # smoke run (work dir only)',
            '.venv/bin/python benchmarks/learning.py --only erpose-n,mah-nms   # a subset',
            '.venv/bin/python benchmarks/learning.py --rerun yolov8n-pose      # recompute rows',
            'bash benchmarks/setup_peers_env.sh                 # optional: Ultralytics rows']


def markdown(bench: Bench, names: List[str], png: Optional[str], meta: dict) -> str:
    b, res = bench.b, bench.results
    ipe = iters_per_epoch(b)
    n_img = meta['data']['train']['annotated'] if meta.get('data') else b['num_train']
    n_img_s = str(n_img) if meta.get('data') else f"~{n_img}"

    lo, hi = scaled_range(b['input'])
    ok = [n for n in names if res.get(n, {}).get('status') == 'ok']
    L = ['# Learning benchmark: ER-Pose-n, its ablations and its peers at one CPU budget', '',
         '_Generated by `benchmarks/learning.py` (issue #3); do not edit by hand._', '']
    if not ok:
        L += ['**Not run yet.** The table below fills in when the benchmark is run '
              '(`.venv/bin/python benchmarks/learning.py`, about an hour on 2 quiet cores).', '']
    L += ['## Setup', '',
          f"* Data: `generate_synthetic_coco(num_train={b['num_train']}, num_val={b['num_val']}, "
          f"seed={b['data_seed']}, min_size={b['min_size']}, max_size={b['max_size']}, "
          f"difficulty='{b['difficulty']}')`" +
          (f" -- train {meta['data']['train']['images']} images / "
           f"{meta['data']['train']['people']} "
           f"people, val {meta['data']['val']['images']} images / {meta['data']['val']['people']} "
           f"people ({meta['data']['val']['crowd']} crowd regions)." if meta.get('data') else '.'),
          f"* Budget, identical for every trained row: input {b['input']}x{b['input']}, batch "
          f"{b['batch']}, {b['epochs']} epochs of the {n_img_s} annotated train images = "
          f"{'~' if not meta.get('data') else ''}{b['epochs'] * math.ceil(n_img / b['batch'])} "
          f"iterations = {'~' if not meta.get('data') else ''}{b['epochs'] * n_img} "
          f"images seen, seed {b['seed']}, random init, CPU with {bench.args.threads} thread(s) per row "
          f"(`OMP_WAIT_POLICY=PASSIVE`), {b['workers']} data-loader worker(s) for the MMPose rows "
          "(Ultralytics forces 0 on CPU).",
          '* Metric: COCO keypoint AP/AR (pycocotools `COCOeval(iouType="keypoints")`, the '
          'evaluation MMPose\'s CocoMetric runs) of each row\'s COCO keypoint results json on the '
          'same val json, computed by one function for every row. For the MMPose rows the '
          'CocoMetric AP of `runner.test()` is kept in `results.json` as a cross-check' +
          (f" (largest |difference| {meta['max_delta']:.4f})." if meta.get('max_delta') is not None
           else '.'),
          '* `train s`: summed wall time of the training epochs (data loading included; process '
          'start-up, model building, checkpointing and evaluation excluded), measured on a '
          'machine whose load is in `results.json` (`load_before/after`); compare it only '
          'within one run.', '',
          '## Results', '']
    rows = table_rows(res, names)
    L.append('| ' + ' | '.join(HEADER) + ' |')
    L.append('|' + '---|' * len(HEADER))
    for r in rows:
        L.append('| ' + ' | '.join(str(c) for c in r) + ' |')
    L.append('')
    if png:
        L += [f'![AP/AR per row]({osp.basename(png)})', '']
    L += ['AP/AR in %. `params (M)`: parameters at inference for ER-Pose (the MAH is dropped), '
          'of the trained model otherwise (YOLO26 keeps both heads in that count). `paper AP`: '
          'the same setting in the paper (ER-Pose-n, COCO val2017, 600 epochs; Tables III, VII, '
          'VIII, IX) -- for the direction of each ablation, not for the level.', '',
          '## Reading it', '',
          '* Table III: the paper has `box-iou` < `box-oks` < `erpose-n` (box-driven '
          'assignment, then keypoint-driven assignment with the box branch kept, then no box '
          'branch); ' + measured_order(res, ['box-iou', 'box-oks', 'erpose-n']) + '.',
          '* Table VII: the paper has `sah-only` < `mah-nms` < `erpose-n`; `mah-nms` is '
          'the same weights as `erpose-n`, decoded from the one-to-many head with OKS-NMS; ' +
          measured_order(res, ['sah-only', 'mah-nms', 'erpose-n']) + '.',
          '* Table VIII / IX: the default (alpha, beta) = (0.5, 6) and the SOKS loss are '
          '`erpose-n`; the paper has (0.5, 0) and (1.0, 6) and both other losses below it; ' +
          measured_order(res, ['ab-0.5-0', 'ab-1.0-6', 'erpose-n']) + '; ' +
          measured_order(res, ['loss-laplace', 'loss-gaussian', 'erpose-n']) + '.',
          '* `conf-hard` vs `erpose-n` (soft): the confidence-target design choice '
          '(`model.head.conf_target`). Soft targets are the OKS the poses reach, low early in '
          'training, so a budget this short favours 0/1 targets and longer ones soft targets '
          '(docs/design.md, "Confidence target").',
          '* `sep-regression` vs `erpose-n` (shared): separate MAH/SAH keypoint branches '
          '(YOLOv10 layout) versus one shared keypoint branch (`model.head.share_regression`).',
          '* `no-kpt-prior` vs `erpose-n`: keypoint offsets initialised at the cell centre (zero '
          'init) versus at a standing pose 4 strides tall (`model.head.kpt_prior_height`).',
          '* Peers: same data, input size and number of images seen, each with its own recipe.',
          '* Whatever order comes out is reported as it is; with one seed, a gap of about one '
          'AP point or less is not a result.', '',
          '## What each row is', '',
          '* ER-Pose rows: `configs/erpose/erpose-n_synthetic-256.py` (the short-budget recipe on synthetic data: '
          'no Mosaic, AdamW, EMA) with only the options below changed:', '']
    for n in names:
        r = ROW_BY_NAME[n]
        if r.get('config') == ER_CFG and r['name'] != 'erpose-n':
            opts = ', '.join(f'`{k}={v}`' for k, v in r.get('opts', {}).items())
            how = (f"evaluation of `{r['source']}`'s checkpoint" if r['kind'] == 'mm-eval'
                   else 'trained')
            L.append(f"  * `{n}` ({r['paper']}): {r['label']}; {how}; {opts}")
    L += ['', '* MMPose peers: `mmpose/.mim/configs/' + YOLOXPOSE_CFG + '` and `' + RTMO_CFG +
          '` as shipped with MMPose 1.3.2 (their pipelines incl. Mosaic, multi-scale batch '
          'resize, optimiser, clip-grad, EMA, losses, assigners, NMS/score thresholds), changed '
          f"only in: data (RTMO's body7 CombinedDataset -> the synthetic COCO data), input size "
          f"{b['input']} (every `input_size`/`img_scale`; the BatchSyncRandomResize range "
          f"(320, 640) scaled by {b['input']}/416 like the test size: ({lo}, {hi})), backbone "
          f"`init_cfg=None`, batch {b['batch']}, epochs {b['epochs']}; and one fix: "
          "`yoloxpose_tiny_*.py` passes `extra_mapping_labels` (an MMYOLO argument) to "
          "`PackPoseInputs`, which MMPose 1.3.2 does not accept (the config does not build); it "
          "is dropped (the codec sets the same label mapping).",
          '* Schedules scaled to the budget for every MMPose-based row (ER-Pose included): a '
          'scheduler / hook epoch `e` of a config written for `E0` epochs becomes iteration '
          f"`round(e / E0 * {b['epochs']} * {ipe})` (LR warm-up, cosine, RTMO's loss switch); "
          '"last N epochs" hooks (ER-Pose\'s stage-2 pipeline, the peers\' switch to no Mosaic + '
          'aux loss) get `max(1, round(N * E / E0))` epochs (MMPose\'s YOLOXPoseModeSwitchHook '
          'switches one epoch earlier than its `num_last_epochs` says).',
          '* Ultralytics: `YOLO("yolov8n-pose.yaml")` / `YOLO("yolo26n-pose.yaml")` (random init), '
          f"`model.train(data=..., epochs={b['epochs']}, imgsz={b['input']}, batch={b['batch']}, "
          f"nbs={bench.args.yolo_nbs or b['batch']}, seed={b['seed']}, val=False, "
          "pretrained=False)`, otherwise Ultralytics defaults (optimizer auto -> AdamW, "
          'Mosaic with close_mosaic=10, its own augmentations). `nbs=batch` makes it take one '
          'optimizer step per batch like the other rows (its default nbs=64 accumulates 8 '
          'batches per step). Labels converted from the same COCO json (crowd regions dropped: '
          'YOLO labels cannot express them); evaluated from `weights/last.pt` (EMA) with '
          '`predict(conf=0.001, iou=0.7, max_det=300)` on the val images, results converted to '
          'COCO keypoint json (score = box confidence). YOLO26 is evaluated both NMS-free '
          '(`nms=False`, its one-to-one head) and with the one-to-many head + NMS (`nms=None`, the '
          'Ultralytics 8.4 default).', '',
          '## Caveats', '',
          '* One seed, one small synthetic data set, a budget of minutes: differences of a point '
          'or two are within run-to-run noise; the paper\'s tables are 600-epoch COCO runs.',
          '* The peers run their own recipes (Mosaic, multi-scale batch resize, clip-grad 0.1, '
          'Ultralytics\' augmentations), the ER-Pose rows the short-budget synthetic-data recipe '
          '(no Mosaic); recipes differ as they would for a user of each model.',
          '* `train s` depends on the machine load; it is not the subject of this benchmark '
          '(see `docs/train_speed_cpu.md` for speed). The YOLOX-Pose-tiny and RTMO-t steps '
          'cost about 2.4x an ER-Pose-n step at 256 px (measured at a fixed size; bigger models, '
          'plus their multi-scale batches), so they take longer for the same number of images.',
          "* Images seen: MMPose's bottom-up training set holds only images with at least one "
          "annotation (people-free images are dropped); the Ultralytics rows are given the same "
          "image list, so every row sees the same images per epoch.",
          run_time_note(res, ok),
          code_note(res, ok),
          '',
          '## Reproduce', '', '```bash'] + command_lines(bench.args) + ['```', '',
          'Raw numbers per row (scores, CocoMetric cross-check, epoch times, load averages, '
          'checkpoint paths): `WORK_DIR/results.json` (default `work_dirs/learning_benchmark/`).',
          '']
    if meta.get('versions'):
        L += ['Versions: ' + ', '.join(f'{k} {v}' for k, v in meta['versions'].items()) + '.',
              f"Machine: {meta.get('cpu', '?')}, {os.cpu_count()} logical CPUs. "
              f"{'Run finished' if ok else 'Rendered'} {meta.get('date', '?')}.", '']
    return '\n'.join(L)


def parse_names(s: Optional[str]) -> List[str]:
    if not s:
        return [r['name'] for r in ROWS]
    names = []
    for part in s.split(','):
        part = part.strip()
        if not part:
            continue
        if part in GROUP_ALIASES:
            names += GROUP_ALIASES[part]
        elif part in ROW_BY_NAME:
            names.append(part)
        else:
            raise SystemExit(f'unknown row {part!r}; rows: {", ".join(ROW_BY_NAME)}; '
                             f'groups: {", ".join(GROUP_ALIASES)}')
    order = [r['name'] for r in ROWS]
    return sorted(dict.fromkeys(names), key=order.index)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='tiny smoke run (APs ~0 are expected)')
    p.add_argument('--only', help='comma-separated rows or groups (see --list)')
    p.add_argument('--rerun', default='', help='rows to recompute even if cached')
    p.add_argument('--list', action='store_true', help='list rows and groups, then exit')
    p.add_argument('--work-dir', help='default work_dirs/learning_benchmark[_quick]')
    p.add_argument('--doc', help='markdown output (default docs/learning_benchmark.md; '
                   'with --quick WORK_DIR/learning_benchmark.md)')
    p.add_argument('--doc-only', action='store_true', help='only re-render table/doc/plot from '
                   'the cached results')
    p.add_argument('--threads', type=int, default=2, help='torch / OpenMP threads per row')
    p.add_argument('--jobs', type=int, default=1,
                   help='training rows run at once (2 cores: --jobs 2 --threads 1 gets ~10%% '
                        'more done per hour than --jobs 1 --threads 2)')
    p.add_argument('--bench-python', default=DEFAULT_BENCH_PY,
                   help='python of the peers venv (benchmarks/setup_peers_env.sh)')
    p.add_argument('--yolo-nbs', type=int, default=0,
                   help='Ultralytics nominal batch size (0 = the batch size: one step per batch)')
    p.add_argument('--row-timeout', type=int, default=0, help='seconds per row (0 = auto)')
    for k, v in FULL.items():
        p.add_argument('--' + k.replace('_', '-'), type=type(v), default=None,
                       help=f'budget: {k} (full {v}, quick {QUICK[k]})')
    p.add_argument('--worker', choices=['mm', 'yolo'], help=argparse.SUPPRESS)
    p.add_argument('--spec', help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        spec = json.load(open(args.spec))
        (worker_mm if args.worker == 'mm' else worker_yolo)(spec)
        return
    if args.list:
        for r in ROWS:
            print(f"{r['name']:18s} {r['group']:13s} {r['label']}")
        print('groups: ' + '; '.join(f'{k} = {",".join(v)}' for k, v in GROUP_ALIASES.items()))
        return

    b = dict(QUICK if args.quick else FULL)
    for k in BUDGET_KEYS:
        v = getattr(args, k)
        if v is not None:
            b[k] = v
    args.work_dir = args.work_dir or osp.join(
        ROOT, 'work_dirs', 'learning_benchmark' + ('_quick' if args.quick else ''))
    if not args.doc:
        args.doc = (osp.join(args.work_dir, 'learning_benchmark.md') if args.quick
                    else osp.join(ROOT, 'docs', 'learning_benchmark.md'))
    if not args.row_timeout:
        args.row_timeout = 900 if args.quick else 3600
    names = parse_names(args.only)
    args.rerun_set = set(parse_names(args.rerun)) if args.rerun else set()

    bench = Bench(args, b)
    meta = dict(cpu=platform.processor() or platform.machine())
    try:
        with open('/proc/cpuinfo') as f:
            meta['cpu'] = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except (OSError, StopIteration):
        pass
    if not args.doc_only:
        log(f'budget {b} -> {args.work_dir}; rows: {", ".join(names)}; load {loadavg()}')
        bench.data_root = make_data(args.work_dir, b)
        bench.run_all(names)
    data_root = osp.join(args.work_dir, 'data')
    if osp.isfile(osp.join(data_root, VAL_JSON)):
        meta['data'] = data_stats(data_root)
    # the doc always shows every row (the cache fills in what earlier runs computed)
    all_names = [r['name'] for r in ROWS]
    deltas = [abs(r['cocometric_delta_AP']) for r in bench.results.values()
              if r.get('budget') == bench.sig and 'cocometric_delta_AP' in r]
    meta['max_delta'] = max(deltas) if deltas else None
    meta['versions'] = versions(args.bench_python)
    meta['date'] = time.strftime('%Y-%m-%d %H:%M')
    shown = {n: r for n, r in bench.results.items() if r.get('budget') == bench.sig}
    bench.results = shown
    print(print_table(shown, all_names))
    png = osp.splitext(args.doc)[0] + '.png'
    title = (f"synthetic COCO ({b['difficulty']}), {b['num_train']} train imgs x "
             f"{b['epochs']} epochs, "
             f"input {b['input']}, batch {b['batch']}, seed {b['seed']}")
    if not plot(shown, all_names, png, title):
        png = None
    os.makedirs(osp.dirname(osp.abspath(args.doc)), exist_ok=True)
    with open(args.doc, 'w') as f:
        f.write(markdown(bench, all_names, png, meta))
    log(f'wrote {args.doc}' + (f' and {png}' if png else ''))


if __name__ == '__main__':
    main()
