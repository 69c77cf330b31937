"""Budgets and rows of the learning benchmark.

A *trained row* is one training recipe (a config plus options, or an Ultralytics model);
each seed of it is one worker run. An *eval row* is another decoding of a trained row's
checkpoints (``mah-nms``: the one-to-many head + OKS-NMS; ``yolo26n-pose-nms``), computed in
the same worker run and reported as its own row.
"""
from typing import Dict, List

ER_CFG = 'configs/erpose/erpose-n_synthetic-256_quickstart.py'
YOLOXPOSE_CFG = 'body_2d_keypoint/yoloxpose/coco/yoloxpose_tiny_4xb64-300e_coco-416.py'
RTMO_CFG = 'body_2d_keypoint/rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py'

# Data of the two splits (``generate_synthetic_coco`` keyword arguments besides sizes/seed).
# Sizes: images 256-320 px for the 256 input, people 0.3-1.0 (mixed) / 0.3-0.9 (crowded) of
# the shorter side = 3.8-16 P4 cells, COCO's medium/large people at 640
# (benchmarks/results/learning_benchmark.md).
SPLITS = {
    'mixed': dict(difficulty='medium', min_people=1, max_people=6, occlusion=0.35,
                  scale_range=(0.3, 1.0), crowd_prob=0.0),
    'crowded': dict(difficulty='hard', min_people=3, max_people=8, occlusion=0.6,
                    scale_range=(0.3, 0.8), crowd_prob=0.0),
}

# Full budget: 8 epochs of ~780 annotated train images (both splits) at batch 4 = ~1560
# iterations, checkpoints evaluated at 50 / 75 / 100 %. peer_lr_factor: the MMPose peers
# train at their configs' own lr (AdamW 0.004) times this factor, 0.2 as ER-Pose's own
# reduction (0.01 -> 0.002); in 570-iteration runs neither 0.2 nor 1.0 got them past AP
# 0.005 (benchmarks/results/learning_benchmark.md, Notes).
FULL = dict(num_train=400, num_val=100, min_size=256, max_size=320, data_seed=0,
            input=256, batch=4, epochs=8, ckpt_epochs=[4, 6, 8], warmup_iters=140,
            workers=1, peer_lr_factor=0.2, ema_momentum=0.002, ema_gamma=500,
            family='figures')  # data family (data.FAMILIES; --family)
QUICK = dict(FULL, num_train=12, num_val=6, min_size=128, max_size=160, input=128,
             epochs=2, ckpt_epochs=[1, 2], warmup_iters=4, workers=0)
MAIN_SEEDS = (0, 1, 2)
ABLATION_SEEDS = (0,)

OKS_NMS = {'model.test_cfg.branch': 'one2many', 'model.test_cfg.nms_thr': 0.65,
           'model.test_cfg.nms_pre': 1000}


# Table VI's thresholds; the paper's AP at those it reports (0.4 best, 0.7 its default)
NMS_SWEEP = (0.4, 0.5, 0.6, 0.7, 0.8)
NMS_PAPER_AP = {0.4: 57.1, 0.7: 56.6}


def _ab(alpha: float, beta: float) -> Dict[str, float]:
    return {f'model.head.assigner_{b}.{k}': v for b in ('one2many', 'one2one')
            for k, v in (('alpha', alpha), ('beta', beta))}


def _both_assigners(key: str, value) -> Dict[str, object]:
    return {f'model.head.assigner_{b}.{key}': value for b in ('one2many', 'one2one')}


# kind: 'mm' (MMEngine training in the project venv), 'yolo' (Ultralytics trainer in the
# peers venv), 'eval' (another decoding of `source`'s checkpoints, same worker run).
ROWS: List[dict] = [
    dict(name='erpose-n', kind='mm', config=ER_CFG, group='ER-Pose-n', main=True,
         paper_ap=57.1, paper='Tab. III-IX selected row',
         label='ER-Pose-n default: MAH+SAH, keypoint-driven assignment, SOKS, soft conf '
               'target, a=0.5 b=6'),
    dict(name='box-iou', kind='mm', config=ER_CFG, group='Table III', main=True, paper_ap=50.4,
         paper='Tab. III row 1', label='box branch + IoU-driven assignment (box-driven)',
         opts={'model.head.with_bbox': True, **_both_assigners('metric', 'iou')}),
    dict(name='box-oks', kind='mm', config=ER_CFG, group='Table III', paper_ap=54.7,
         paper='Tab. III row 2', label='box branch + keypoint-driven assignment',
         opts={'model.head.with_bbox': True}),
    dict(name='sah-only', kind='mm', config=ER_CFG, group='Table VII', paper_ap=53.1,
         paper='Tab. VII row 1', label='SAH-only training (no MAH)',
         opts={'model.head.with_one2many': False}),
    dict(name='mah-nms', kind='eval', source='erpose-n', group='Table VII', paper_ap=56.6,
         paper='Tab. VII row 2', label="MAH + OKS-NMS (0.65) decoding of erpose-n's weights",
         opts=OKS_NMS),
    # Table VI: the NMS threshold of the MAH decoding, last checkpoint only
    *[dict(name=f'mah-nms-{t}', kind='eval', source='erpose-n', group='Table VI',
           paper_ap=NMS_PAPER_AP.get(t), paper='Tab. VI',
           label=f"MAH + OKS-NMS ({t}) decoding of erpose-n's weights",
           opts=dict(OKS_NMS, **{'model.test_cfg.nms_thr': t}), last_only=True)
      for t in NMS_SWEEP],
    dict(name='ab-0.5-0', kind='mm', config=ER_CFG, group='Table VIII', paper_ap=50.7,
         paper='Tab. VIII', label='assignment alpha=0.5, beta=0', opts=_ab(0.5, 0.0)),
    dict(name='ab-1.0-6', kind='mm', config=ER_CFG, group='Table VIII', paper_ap=54.3,
         paper='Tab. VIII', label='assignment alpha=1.0, beta=6', opts=_ab(1.0, 6.0)),
    dict(name='loss-gaussian', kind='mm', config=ER_CFG, group='Table IX', paper_ap=56.1,
         paper='Tab. IX', label='Gaussian-OKS pose loss',
         opts={'model.head.loss_pose.mode': 'gaussian'}),
    dict(name='loss-laplace', kind='mm', config=ER_CFG, group='Table IX', paper_ap=55.7,
         paper='Tab. IX', label='Laplace pose loss',
         opts={'model.head.loss_pose.mode': 'laplace'}),
    dict(name='conf-hard', kind='mm', config=ER_CFG, group='design',
         label='hard (0/1) confidence target instead of soft',
         opts={'model.head.conf_target': 'hard'}),
    dict(name='shared-regression', kind='mm', config=ER_CFG, group='design',
         label='MAH and SAH share one keypoint branch instead of a separate SAH',
         opts={'model.head.share_regression': True}),
    dict(name='cand-all', kind='mm', config=ER_CFG, group='design',
         label="assignment candidates: every cell (paper's Algorithm 1) instead of centre",
         opts=_both_assigners('candidate_rule', 'all')),
    # how the SAH is trained, where the paper is silent (docs/design.md, "Closing the SAH's gap")
    dict(name='o2o-mah-rank', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH positive: the one-to-one matching ranked by the MAH's predictions",
         opts={'model.head.one2one_assign': 'one2many'}),
    dict(name='o2o-mah-topk', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH positive: the SAH's own score over the person's MAH top-k cells",
         opts={'model.head.one2one_assign': 'one2many_topk'}),
    dict(name='o2o-hard', kind='mm', config=ER_CFG, group='SAH training',
         label='hard (0/1) confidence target for the SAH only (MAH soft)',
         opts={'model.head.one2one_conf_target': 'hard'}),
    dict(name='o2o-mah-rank-hard', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH positive ranked by the MAH's predictions, hard SAH target",
         opts={'model.head.one2one_assign': 'one2many',
               'model.head.one2one_conf_target': 'hard'}),
    dict(name='o2o-attached', kind='mm', config=ER_CFG, group='SAH training',
         label='SAH on live features (detach_one2one=False): its losses reach the backbone',
         opts={'model.head.detach_one2one': False}),
    dict(name='o2m-decay', kind='mm', config=ER_CFG, group='SAH training',
         label='one-to-many loss weight 0.8 -> 0.1 over training (YOLO26-style)',
         hooks=[dict(type='One2ManyWeightHook', start=0.8, end=0.1)]),
    dict(name='o2o-peak', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH confidence with a learned 3-D max filter (DeFCN's 3DMF) over its features",
         opts={'model.head.one2one_peak_filter': True}),
    dict(name='o2o-posw', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH confidence BCE with its positives weighted 4x (about the MAH's positives per person)",
         opts={'model.head.one2one_pos_weight': 4.0}),
    dict(name='o2o-mah-target', kind='mm', config=ER_CFG, group='SAH training',
         label="SAH soft target: the MAH's predicted confidence at the SAH's positive",
         opts={'model.head.one2one_conf_target': 'one2many'}),
    dict(name='yolov8n-pose', kind='yolo', model='yolov8n-pose.yaml', group='Ultralytics',
         main=True, label='YOLOv8n-pose (from yaml; NMS)', predict={'nms': None}),
    dict(name='yolo26n-pose', kind='yolo', model='yolo26n-pose.yaml', group='Ultralytics',
         main=True, label='YOLO26n-pose (from yaml; one-to-one head, nms=False)',
         predict={'nms': False}),
    dict(name='yolo26n-pose-nms', kind='eval', source='yolo26n-pose', group='Ultralytics',
         main=True, label='YOLO26n-pose weights, one-to-many head + NMS (nms=None)',
         predict={'nms': None}),
    dict(name='yoloxpose-tiny', kind='mm', config='mmpose::' + YOLOXPOSE_CFG, peer=True,
         group='MMPose peers', main=True, label='YOLOX-Pose-tiny (MMPose 1.3.2 config)'),
    dict(name='rtmo-t', kind='mm', config='mmpose::' + RTMO_CFG, peer=True, group='MMPose peers',
         main=True, label='RTMO-t (MMPose 1.3.2 body7 config, on this COCO-format data)'),
]
ROW_BY_NAME = {r['name']: r for r in ROWS}


def eval_rows_of(name: str) -> List[dict]:
    """The eval rows decoded from ``name``'s checkpoints."""
    return [r for r in ROWS if r.get('source') == name]


def trained_name(name: str) -> str:
    """The trained row whose worker run produces row ``name``."""
    r = ROW_BY_NAME[name]
    return r['source'] if r['kind'] == 'eval' else name


GROUPS = {
    'main': [r['name'] for r in ROWS if r.get('main')],
    'erpose': [r['name'] for r in ROWS if r.get('config') == ER_CFG or r.get('source') == 'erpose-n'],
    'ablations': [r['name'] for r in ROWS if (r.get('config') == ER_CFG or r.get(
        'source') == 'erpose-n') and r['name'] != 'erpose-n'],
    'peers': [r['name'] for r in ROWS if r.get('peer') or r['group'] == 'Ultralytics'],
    'mmpose-peers': [r['name'] for r in ROWS if r.get('peer')],
    'yolo': [r['name'] for r in ROWS if r['group'] == 'Ultralytics'],
    'sah-training': [r['name'] for r in ROWS if r['group'] == 'SAH training'],
    'nms-sweep': [r['name'] for r in ROWS if r['group'] == 'Table VI'],
}


def parse_names(spec: str) -> List[str]:
    """Comma-separated rows / groups -> row names in table order (SystemExit on unknown)."""
    if not spec:
        return [r['name'] for r in ROWS]
    names = []
    for part in (p.strip() for p in spec.split(',')):
        if not part:
            continue
        if part in GROUPS:
            names += GROUPS[part]
        elif part in ROW_BY_NAME:
            names.append(part)
        else:
            raise SystemExit(f'unknown row {part!r}; rows: {", ".join(ROW_BY_NAME)}; '
                             f'groups: {", ".join(GROUPS)}')
    order = [r['name'] for r in ROWS]
    return sorted(dict.fromkeys(names), key=order.index)
