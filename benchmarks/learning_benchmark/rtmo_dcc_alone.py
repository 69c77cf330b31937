"""RTMO's coordinate classifier (DCC) trained alone: can it learn to decode a few fixed people?

Builds the DCC of an RTMO config (MMPose's own module, default init) and gives every person
a free, learnable 192-d feature vector in place of the backbone + head's pose vector: the
most favourable upstream there is. The DCC is trained with RTMO's own MLE loss on the
people's keypoints, their true boxes (expanded by RTMO's 1.25) and the stride-16 grid point
at the box centre, and its decoded keypoints (softmax expectation, as at test time) are
scored by OKS against the same people every ``--every`` steps. A DCC that cannot fit a dozen
people this way within the learning benchmark's iteration budget cannot decode well at that
budget inside the whole model either, whatever the data and frames are.

    .venv/bin/python -m benchmarks.learning_benchmark.rtmo_dcc_alone [--ann COCO_JSON]
        [--people 32] [--lr 4e-4,2e-3] [--steps 1500]

``--ann`` defaults to the real COCO samples in ``../shared/data`` when they are there, else
to the learning benchmark's training annotations (``benchmarks/learning.py`` makes them).
Prints, per lr, the mean OKS of the decoded keypoints, the mean learned sigma and the mean
peak probability of the x heatmaps.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RTMO_T = 'body_2d_keypoint/rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py'


def default_ann() -> str:
    shared = osp.join(osp.dirname(ROOT), 'shared', 'data', 'coco', 'test_coco.json')
    if osp.isfile(shared):
        return shared
    from benchmarks.learning_benchmark.data import TRAIN_JSON
    return osp.join(ROOT, 'work_dirs', 'learning_benchmark', 'data', TRAIN_JSON)


def load_people(ann_file: str, num: int):
    """(keypoints (N, 17, 2), visible (N, 17), boxes xyxy (N, 4), areas (N,)) of the first
    ``num`` people with labelled keypoints."""
    import torch
    if not osp.isfile(ann_file):
        raise SystemExit(f'{ann_file}: no such annotation file (run benchmarks/learning.py '
                         'first, or pass --ann)')
    with open(ann_file) as f:
        anns = [a for a in json.load(f)['annotations']
                if a.get('num_keypoints', 0) > 0 and not a.get('iscrowd', 0)][:num]
    if not anns:
        raise SystemExit(f'{ann_file}: no person with labelled keypoints')
    k = torch.tensor([a['keypoints'] for a in anns], dtype=torch.float).view(-1, 17, 3)
    b = torch.tensor([a['bbox'] for a in anns], dtype=torch.float)
    xyxy = torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], 1)
    return k[..., :2], (k[..., 2] > 0).float(), xyxy, b[:, 2] * b[:, 3]


def train_dcc(people, lr: float, steps: int, every: int, seed: int = 0) -> List[Dict]:
    """Train a fresh DCC + per-person features; returns one record per ``every`` steps."""
    import torch
    from mmengine.config import Config
    from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
    from mmpose.models.losses import MLECCLoss
    from mmpose.structures.bbox import bbox_xyxy2cs

    from benchmarks.learning_benchmark.mm_worker import config_path
    from benchmarks.learning_benchmark.scoring import COCO_SIGMAS
    torch.manual_seed(seed)
    head = Config.fromfile(config_path('mmpose::' + RTMO_T)).model.head
    dcc = DCC(num_keypoints=17, **head.dcc_cfg)
    loss_mle = MLECCLoss(use_target_weight=True)
    kpts, vis, xyxy, areas = people
    bbox_cs = torch.cat(bbox_xyxy2cs(xyxy, head.get('bbox_padding', 1.25)), 1)
    grids = ((xyxy[:, :2] + xyxy[:, 2:]) / 2 / 16).floor() * 16 + 8  # stride-16 prior
    feats = torch.nn.Parameter(torch.randn(len(kpts), head.dcc_cfg.in_channels))
    opt = torch.optim.AdamW(list(dcc.parameters()) + [feats], lr=lr, weight_decay=0.05)
    var = (2 * torch.as_tensor(COCO_SIGMAS, dtype=torch.float)) ** 2
    records = []
    dcc.train()
    for step in range(steps + 1):
        pred, hms, sigmas = dcc.forward_train(feats, bbox_cs, grids)
        if step % every == 0:
            with torch.no_grad():
                e = ((pred - kpts) ** 2).sum(-1) / (2 * areas[:, None] * var)
                oks = ((torch.exp(-e) * vis).sum(1) / vis.sum(1).clamp(min=1)).mean()
                records.append(dict(step=step, oks=oks.item(), sigma=sigmas.mean().item(),
                                    peak=hms[0].max(-1).values.mean().item()))
        if step == steps:
            break
        target = dcc.generate_target_heatmap(kpts, bbox_cs, sigmas, areas)
        loss = loss_mle(hms, target, vis).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--ann', default=None, help='COCO keypoint json (default: see above)')
    p.add_argument('--people', type=int, default=32)
    p.add_argument('--lr', default='4e-4,2e-3', help='comma-separated AdamW lrs')
    p.add_argument('--steps', type=int, default=1500)
    p.add_argument('--every', type=int, default=500)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    ann = args.ann or default_ann()
    people = load_people(ann, args.people)
    print(f'{ann}: {len(people[0])} people; DCC of {RTMO_T}')
    print('| lr | step | OKS | sigma | peak p(x) |\n|---|---|---|---|---|')
    for lr in (float(v) for v in args.lr.split(',')):
        for r in train_dcc(people, lr, args.steps, args.every):
            print(f"| {lr:g} | {r['step']} | {r['oks']:.3f} | {r['sigma']:.3f} | "
                  f"{r['peak']:.2f} |", flush=True)


if __name__ == '__main__':
    main()
