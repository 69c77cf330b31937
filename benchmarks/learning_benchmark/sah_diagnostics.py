"""Where the one-to-one head (SAH) loses to its own one-to-many head (MAH) + OKS-NMS, measured
on a learning-benchmark run's saved checkpoints (``WORK_DIR/rows/ROW_seedS/train/epoch_E.pth``).

    .venv/bin/python -m benchmarks.learning_benchmark.sah_diagnostics ROW_DIR [ROW_DIR ...]
        [--epochs 4,6,8] [--probe-steps 1500] [--json OUT.json]

Per run, on images letterboxed to the input without random augmentation (people in input
pixels, as the heads see them in training):

* ``cells`` (val images, last checkpoint): per person, the score of each head's best cell
  among the cells whose pose matches the person (OKS > 0.5), and of the second best such
  cell (the duplicate that stays when no NMS runs); the SAH's score at the MAH's best cell;
  Spearman's rank correlation of each head's score with its pose's OKS (cells scoring
  > 0.05; calibration).
* ``stability`` (train images, every checkpoint): the SAH's positive per person (the run's
  own ``one2one_assign``) between consecutive checkpoints: how often it moves, and how often
  it lies among the MAH's positives of the same person, per level.
* ``targets`` (train images, last checkpoint): the SAH's soft confidence target (one
  positive: its own OKS) against the MAH's targets for the same person (max and sum).
* ``probe``: a fresh SAH confidence branch trained on the frozen features of the last
  checkpoint with fixed positives (``own``: the SAH's own assignment; ``mah``: the
  one-to-one matching on the MAH's predictions), target the SAH's own OKS at the positive,
  then decoded with the trained SAH's keypoints and scored like every row (AP per split,
  duplicates, TP-vs-rest AUC). Tells whether the features can separate neighbouring cells
  when the positives hold still.
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, List

import numpy as np

from benchmarks.learning_benchmark.data import VAL_JSON, val_json
from benchmarks.learning_benchmark.ranking import ranking_stats
from benchmarks.learning_benchmark.rows import SPLITS
from benchmarks.learning_benchmark.scoring import (label_predictions, load_json,
                                                   match_diagnostics, score_keypoints,
                                                   split_results)


def _setup(row_dir: str):
    """(spec, cfg, the deterministic letterbox pipeline) of a benchmark run."""
    from benchmarks.learning_benchmark.mm_worker import build_mm_cfg
    spec = json.load(open(osp.join(row_dir, 'spec.json')))
    cfg, _ = build_mm_cfg(spec, 1)
    pipe = [t for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] not in ('YOLOXHSVRandomAug', 'RandomFlip', 'Mosaic')]
    for t in pipe:
        if t['type'] == 'BottomupRandomAffine':
            t.update(shift_prob=0, rotate_prob=0, scale_prob=0)
    return spec, cfg, pipe


def _model(cfg, ckpt: str):
    import torch
    from mmengine.runner import load_checkpoint
    from mmpose.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(model, ckpt, map_location='cpu', logger='silent')
    return model.eval().to(torch.float32)


def _batches(cfg, pipe, split: str, batch: int = 16):
    """Batches of packed samples (train or val images) through ``pipe``."""
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset if split == 'train'
                           else cfg.test_dataloader.dataset)
    ds_cfg.update(pipeline=pipe, test_mode=False)
    ds = DATASETS.build(ds_cfg)
    for i in range(0, len(ds), batch):
        yield pseudo_collate([ds[j] for j in range(i, min(i + batch, len(ds)))])


def _dense(model, data):
    import torch
    with torch.no_grad():
        d = model.data_preprocessor(data, False)
        head = model.head
        feats = head._select([f.float() for f in model.extract_feat(d['inputs'])])
        o2o = head.dense_outputs(feats, 'one2one')
        o2m = head.dense_outputs(feats, 'one2many')
        gt = head.batch_targets(d['data_samples'], 'cpu')
    return feats, o2o, o2m, gt


def cell_stats(model, cfg, pipe) -> Dict[str, float]:
    """Per-person best / second-best matching cell scores of both heads (val images)."""
    from scipy.stats import spearmanr

    from erpose_mm.structures import batched_oks
    head = model.head
    rows, calib = [], {'sah': ([], []), 'mah': ([], [])}
    for data in _batches(cfg, pipe, 'val'):
        _, o2o, o2m, gt = _dense(model, data)
        for name, outs in (('sah', o2o), ('mah', o2m)):
            q = batched_oks(outs['keypoints'], gt['keypoints'], gt['keypoints_visible'],
                            gt['areas'], head.sigmas)                        # (B, G, N)
            s = outs['conf_logits'].sigmoid()                                # (B, N)
            qmax = q.masked_fill(~gt['mask'][..., None], 0).amax(1)          # (B, N)
            keep = s > 0.05
            calib[name][0].extend(s[keep].tolist())
            calib[name][1].extend(qmax[keep].tolist())
            match = (q > 0.5) & gt['mask'][..., None]
            top = s[:, None].expand_as(q).masked_fill(~match, 0).topk(2, dim=-1)
            outs['_best'], outs['_second'], outs['_arg'] = top.values[..., 0], \
                top.values[..., 1], top.indices[..., 0]
        sah_at_mah = o2o['conf_logits'].sigmoid().gather(1, o2m['_arg'])     # (B, G)
        # people without a matching MAH cell: no "MAH's best cell" to read the SAH at
        sah_at_mah = sah_at_mah.masked_fill(o2m['_best'] <= 0, float('nan'))
        m = gt['mask']
        rows.append(np.stack([o2o['_best'][m].numpy(), o2o['_second'][m].numpy(),
                              o2m['_best'][m].numpy(), o2m['_second'][m].numpy(),
                              sah_at_mah[m].numpy()], 1))
    r = np.concatenate(rows)
    out = dict(people=int(len(r)),
               sah_best=float(r[:, 0].mean()), sah_second=float(r[:, 1].mean()),
               mah_best=float(r[:, 2].mean()), mah_second=float(r[:, 3].mean()),
               sah_at_mah_best=float(np.nanmean(r[:, 4])),
               sah_best_below_0_3=float((r[:, 0] < 0.3).mean()),
               mah_best_below_0_3=float((r[:, 2] < 0.3).mean()),
               sah_second_above_0_1=float((r[:, 1] > 0.1).mean()),
               sah_second_above_half_best=float((r[:, 1] > 0.5 * r[:, 0]).mean()))
    for name, (s, q) in calib.items():
        out[f'{name}_score_oks_spearman'] = float(spearmanr(s, q)[0]) if len(s) > 2 else float('nan')
    return out


def assignments(model, cfg, pipe) -> Dict[str, np.ndarray]:
    """The SAH's and MAH's positives of every train person at one checkpoint: ``sah``
    (P,) the SAH cell, ``in_mah`` (P,) whether it is a MAH positive of that person, the
    SAH target and the MAH's max / summed targets (soft) per person."""
    import torch
    head = model.head
    sah, in_mah, t_sah, t_mah_max, t_mah_sum = [], [], [], [], []
    for data in _batches(cfg, pipe, 'train'):
        _, o2o, o2m, gt = _dense(model, data)
        with torch.no_grad():
            o2m_res = head.assign(o2m, gt, head.assigner_one2many)
            o2o_res = head.assign_one2one(o2o, gt, o2m, o2m_res)
        B, G = gt['mask'].shape
        for b in range(B):
            for g in range(G):
                if not gt['mask'][b, g] or not (gt['keypoints_visible'][b, g] > 0).any():
                    continue
                cells = (o2o_res['gt_inds'][b] == g).nonzero().flatten()
                mah = o2m_res['gt_inds'][b] == g
                c = int(cells[0]) if len(cells) else -1
                sah.append(c)
                in_mah.append(bool(mah[c]) if c >= 0 else False)
                t_sah.append(float(o2o_res['quality'][b, c]) if c >= 0 else 0.0)
                # MAH soft target: align / max align * max quality over its positives
                a, q = o2m_res['align'][b][mah], o2m_res['quality'][b][mah]
                t = a / a.max().clamp(min=1e-9) * q.max() if mah.any() else torch.zeros(1)
                t_mah_max.append(float(t.max()))
                t_mah_sum.append(float(t.sum()))
    return dict(sah=np.array(sah), in_mah=np.array(in_mah), t_sah=np.array(t_sah),
                t_mah_max=np.array(t_mah_max), t_mah_sum=np.array(t_mah_sum))


def stability(per_epoch: Dict[int, dict], level_cells: int) -> Dict[str, float]:
    """How the SAH's positives move between checkpoints and sit among the MAH's, per level
    (cells ``< level_cells`` are the first level)."""
    out = {}
    eps = sorted(per_epoch)
    for e0, e1 in zip(eps, eps[1:]):
        a, b = per_epoch[e0]['sah'], per_epoch[e1]['sah']
        out[f'moved_e{e0}_e{e1}'] = float((a != b).mean())
    last = per_epoch[eps[-1]]
    for lv, sel in (('p4', last['sah'] < level_cells), ('p5', last['sah'] >= level_cells)):
        out[f'share_{lv}'] = float(sel.mean())
        out[f'in_mah_topk_{lv}'] = float(last['in_mah'][sel].mean()) if sel.any() else float('nan')
    out['in_mah_topk'] = float(last['in_mah'].mean())
    out.update(target_sah=float(last['t_sah'].mean()), target_mah_max=float(last['t_mah_max'].mean()),
               target_mah_sum=float(last['t_mah_sum'].mean()))
    return out


def train_probe(model, cfg, pipe, positives: str, steps: int, seed: int = 0):
    """A fresh SAH confidence branch trained on frozen features with fixed positives."""
    import torch
    import torch.nn.functional as F
    head = model.head
    feats_all, targets_all = [], []
    for data in _batches(cfg, pipe, 'train'):
        feats, o2o, o2m, gt = _dense(model, data)
        with torch.no_grad():
            o2m_res = head.assign(o2m, gt, head.assigner_one2many)
            saved = head.one2one_assign
            head.one2one_assign = 'one2many' if positives == 'mah' else 'own'
            res = head.assign_one2one(o2o, gt, o2m, o2m_res)
            head.one2one_assign = saved
        t = res['quality'] * (res['gt_inds'] >= 0)                          # (B, N)
        w = (~res['ignore_mask']).float()
        feats_all.append([f.clone() for f in feats])
        targets_all.append((t, w))
    torch.manual_seed(seed)
    conf = copy.deepcopy(head.one2one.conf)
    for m in conf.modules():
        if hasattr(m, 'reset_parameters') and m is not conf:
            m.reset_parameters()
    for seq, s in zip(conf, head.featmap_strides):
        torch.nn.init.constant_(seq[-1].bias, float(np.log(5 / (640 / s) ** 2)))
    conf.train()
    opt = torch.optim.AdamW(conf.parameters(), lr=2e-3, weight_decay=0.05)
    n = len(feats_all)
    for step in range(steps):
        i = step % n
        logits = torch.cat([m(f).flatten(1) for m, f in zip(conf, feats_all[i])], 1)
        t, w = targets_all[i]
        loss = (F.binary_cross_entropy_with_logits(logits, t, reduction='none') * w).sum() / \
            t.sum().clamp(min=1)
        for g in opt.param_groups:
            g['lr'] = 2e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return conf.eval()


def probe_predictions(cfg, ckpt: str, conf, out_prefix: str) -> str:
    """COCO keypoint results of the checkpoint with its SAH confidence branch replaced."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class Swap(Hook):
        # after EMAHook's before_test_epoch, which copies the averaged weights into every
        # parameter of the model (it would overwrite the probe's too)
        priority = 'LOWEST'

        def before_test_epoch(self, runner):
            runner.model.head.one2one.conf = conf

    tcfg = copy.deepcopy(cfg)
    tcfg.load_from = ckpt
    tcfg.test_evaluator.outfile_prefix = out_prefix
    tcfg.work_dir = osp.join(osp.dirname(out_prefix), 'probe_test')
    runner = Runner.from_cfg(tcfg)
    runner.register_hook(Swap())
    runner.test()
    return out_prefix + '.keypoints.json'


def score_file(data_root: str, path: str) -> Dict[str, dict]:
    """AP, duplicates at 0.1 / 0.3 and TP-vs-rest AUC per split of one results file."""
    val = load_json(osp.join(data_root, VAL_JSON))
    res = load_json(path)
    out = {}
    for sp in SPLITS:
        gt = load_json(osp.join(data_root, val_json(sp)))
        sub = split_results(res, [im['id'] for im in gt['images']])
        sc = score_keypoints(osp.join(data_root, val_json(sp)), sub, crowd=sp == 'crowded')
        rk = ranking_stats(label_predictions(gt, sub))
        out[sp] = dict(AP=sc['AP'], dup_0_1=match_diagnostics(gt, sub, 0.1)['duplicates'],
                       dup_0_3=match_diagnostics(gt, sub, 0.3)['duplicates'], auc=rk.get('auc'))
    del val
    return out


def main(argv: List[str] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('row_dirs', nargs='+')
    p.add_argument('--epochs', default='4,6,8')
    p.add_argument('--probe-steps', type=int, default=1500)
    p.add_argument('--parts', default='cells,stability,probe',
                   help='comma-separated: cells, stability, probe')
    p.add_argument('--json', help='write all results here')
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import erpose_mm  # noqa: F401
    from erpose_mm.compat import apply_stack_adapters
    from mmengine.registry import init_default_scope
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (weights_only)
    init_default_scope('mmpose')
    epochs = [int(e) for e in args.epochs.split(',')]
    report = {}
    for row_dir in args.row_dirs:
        spec, cfg, pipe = _setup(row_dir)
        ck = {e: osp.join(row_dir, 'train', f'epoch_{e}.pth') for e in epochs}
        ck = {e: c for e, c in ck.items() if osp.isfile(c)}
        last = max(ck)
        model = _model(cfg, ck[last])
        parts = set(args.parts.split(','))
        r = dict(cells=cell_stats(model, cfg, pipe)) if 'cells' in parts else {}
        if 'stability' in parts:
            S = spec['budget']['input']
            level_cells = (S // model.head.featmap_strides[0]) ** 2
            per_epoch = {e: assignments(_model(cfg, c), cfg, pipe) for e, c in ck.items()}
            r['stability'] = stability(per_epoch, level_cells)
        if 'probe' in parts:
            r['probe'] = {}
            for positives in ('own', 'mah'):
                conf = train_probe(model, cfg, pipe, positives, args.probe_steps)
                path = probe_predictions(cfg, ck[last], conf,
                                         osp.join(row_dir, f'probe_{positives}_e{last}'))
                r['probe'][positives] = score_file(spec['data_root'], path)
            for name in ('own', 'mah-nms'):
                path = osp.join(row_dir, f'preds_{name}_e{last}.keypoints.json')
                if osp.isfile(path):
                    r['probe'][f'trained_{name}'] = score_file(spec['data_root'], path)
        report[osp.basename(row_dir.rstrip('/'))] = r
        print(json.dumps({osp.basename(row_dir.rstrip('/')): r}, indent=1), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
