"""Task Alignment Error (paper Eq. 4-5, Fig. 11-12) of one or more checkpoints.

    python tools/analysis/task_alignment_error.py CONFIG CKPT [CKPT ...]
        [--max-images N] [--max-dets 20] [--min-oks 0.1] [--ap AP [AP ...]]
        [--labels NAME [NAME ...]]
        [--plot tae_vs_ap.png] [--out tae.json] [--device cpu] [--cfg-options k=v ...]

For every image of the config's ``test_dataloader`` the model is run once; the dense
candidates are the decoded keypoints of every grid cell of the inference branch
(``test_cfg.branch``, default the one-to-one head) and the outputs are what the model
returns (NMS-free top-k, exactly what CocoMetric scores). Both are mapped back to the
original image, where the annotations (read from the data set's annotation file) and
their ``area`` live, as COCOeval does (``use_area=False`` metrics: 0.53 * box area).
See :mod:`erpose_mm.evaluation.tae` for the precise definitions; the headline ``TAE``
is Eq. 5 divided by the number of people, averaged over the images with people.

The AP of each checkpoint is computed with the config's ``test_evaluator`` on the same
images (or taken from ``--ap``). With several checkpoints the Spearman correlation of
TAE and AP is printed and ``--plot`` draws the TAE-vs-AP scatter of the paper's Fig. 12.

``--max-images N`` evaluates the first N images that contain at least one person with
labelled keypoints: a subset annotation file is written to a temporary folder and used
by both the data loader and the metric, so AP and TAE cover the same images.
"""
import argparse
import contextlib
import copy
import io
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List

import numpy as np
import torch

import erpose_mm  # noqa: F401
from erpose_mm.evaluation.tae import (DEFAULT_MIN_OKS, aggregate_tae, image_tae,
                                      tae_ap_correlation)
from erpose_mm.runtime.constants import AREA_PER_BOX
from erpose_mm.runtime.geometry import input_to_image
from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Task Alignment Error (ER-Pose Eq. 5) vs AP')
    p.add_argument('config')
    p.add_argument('checkpoints', nargs='+', help='one or more checkpoints of this config')
    p.add_argument('--max-images', type=int, default=None,
                   help='only the first N images that contain people')
    p.add_argument('--max-dets', type=int, default=20,
                   help='outputs per image taking part in the greedy matching, by score '
                   '(COCO keypoint eval uses 20; 0 = all)')
    p.add_argument('--min-oks', type=float, default=DEFAULT_MIN_OKS,
                   help='an output matches a person only above this OKS (default 0.1)')
    p.add_argument('--ap', type=float, nargs='+', default=None,
                   help='AP of each checkpoint (skips running the metric)')
    p.add_argument('--labels', nargs='+', default=None, help='names for table and plot')
    p.add_argument('--plot', default=None, help='write the TAE-vs-AP scatter plot here')
    p.add_argument('--out', default=None, help='write the results as JSON here')
    p.add_argument('--device', default=None, help='default: cuda if available, else cpu')
    p.add_argument('--num-workers', type=int, default=0)
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of the config, key=value')
    args = p.parse_args(argv)
    if args.ap is not None and len(args.ap) != len(args.checkpoints):
        p.error(f'--ap got {len(args.ap)} values for {len(args.checkpoints)} checkpoints')
    if args.labels is not None and len(args.labels) != len(args.checkpoints):
        p.error(f'--labels got {len(args.labels)} names for {len(args.checkpoints)} checkpoints')
    return args


# ----------------------------------------------------------------------------- data
def _evaluator_cfgs(cfg) -> List[dict]:
    ev = cfg.get('test_evaluator', None)
    if ev is None:
        return []
    return [copy.deepcopy(e) for e in (ev if isinstance(ev, (list, tuple)) else [ev])]


def _ann_path(ds_cfg) -> str:
    ann = ds_cfg.get('ann_file', '')
    root = ds_cfg.get('data_root', '') or ''
    return ann if osp.isabs(ann) else osp.join(root, ann)


def _has_people(ann: dict) -> bool:
    n = ann.get('num_keypoints')
    if n is None:
        n = int(np.count_nonzero(np.asarray(ann.get('keypoints', []))[2::3] > 0))
    return not ann.get('iscrowd', 0) and n > 0


def _subset(ann_file: str, max_images: int, tmpdir: str) -> str:
    """Annotation file restricted to the first ``max_images`` images with people."""
    with open(ann_file) as f:
        data = json.load(f)
    with_people = {a['image_id'] for a in data['annotations'] if _has_people(a)}
    images = [im for im in data['images'] if im['id'] in with_people][:max_images]
    keep = {im['id'] for im in images}
    data['images'] = images
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] in keep]
    out = osp.join(tmpdir, 'subset_' + osp.basename(ann_file))
    with open(out, 'w') as f:
        json.dump(data, f)
    return out


def prepare_cfg(args, tmpdir: str) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.test_dataloader
    loader.num_workers = args.num_workers
    loader.persistent_workers = args.num_workers > 0 and loader.get('persistent_workers', False)
    if args.batch_size:
        loader.batch_size = args.batch_size
    loader.dataset.pop('indices', None)
    ann = _ann_path(loader.dataset)
    if args.max_images:
        ann = _subset(ann, args.max_images, tmpdir)
        loader.dataset.ann_file = ann
        evs = _evaluator_cfgs(cfg)
        for e in evs:
            if 'ann_file' in e:
                e['ann_file'] = ann
        cfg.test_evaluator = evs if len(evs) != 1 else evs[0]
    cfg.tae_ann_file = ann
    return cfg


def load_gt(ann_file: str, use_area: bool = True) -> Dict[int, dict]:
    """People per image id: keypoints (G, K, 2), visible (G, K), areas (G,), ignore (G,).

    ``area`` as COCOeval (xtcocotools) uses it: the annotation's ``area``, or 0.53 x box
    area when the metric has ``use_area=False`` or the annotation has none (CrowdPose).
    Ignored (as in COCOeval): ``iscrowd`` and people with ``num_keypoints == 0``.
    """
    with open(ann_file) as f:
        data = json.load(f)
    per_img: Dict[int, list] = {im['id']: [] for im in data['images']}
    for a in data['annotations']:
        per_img.setdefault(a['image_id'], []).append(a)
    out = {}
    for img_id, anns in per_img.items():
        if not anns:
            out[img_id] = None
            continue
        k = np.asarray([a['keypoints'] for a in anns], np.float64).reshape(len(anns), -1, 3)
        areas = np.asarray([a['area'] if use_area and 'area' in a
                            else AREA_PER_BOX * a['bbox'][2] * a['bbox'][3] for a in anns], np.float64)
        ignore = np.asarray([not _has_people(a) for a in anns], bool)
        out[img_id] = dict(keypoints=k[..., :2], visible=k[..., 2], areas=areas, ignore=ignore)
    return out


# ----------------------------------------------------------------------------- model
def load_model(cfg: Config, checkpoint: str, device: str, num_keypoints: int):
    from mmengine.runner import load_checkpoint

    from erpose_mm.compat import apply_stack_adapters
    from erpose_mm.engine.checkpoint import check_checkpoint_fits
    from mmpose.apis import init_model
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (weights_only)
    model = init_model(copy.deepcopy(cfg), None, device='cpu')
    head = getattr(model, 'head', None)
    if head is None or not hasattr(head, 'dense_outputs'):
        raise TypeError(f'{type(head).__name__} has no dense_outputs(): the TAE tool needs an '
                        'ERPoseHead-like head')
    if head.num_keypoints != num_keypoints:
        raise ValueError(f'the config head predicts num_keypoints={head.num_keypoints} but the '
                         f'evaluation data have {num_keypoints} keypoints per person')
    check_checkpoint_fits(model, checkpoint, cfg.filename)
    with contextlib.redirect_stdout(io.StringIO()):
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False, logger='silent')
    return model.to(device).eval()


def _to_image(kpts: torch.Tensor, meta: dict) -> np.ndarray:
    """Model-input px -> original image px (BottomupResize metainfo)."""
    return input_to_image(kpts.detach().float().cpu().numpy(),
                          np.asarray(meta['input_center'], np.float64),
                          np.asarray(meta['input_scale'], np.float64),
                          np.asarray(meta['input_size'], np.float64))


@torch.no_grad()
def evaluate_checkpoint(cfg: Config, checkpoint: str, device: str, max_dets: int,
                        with_ap: bool, min_oks: float = DEFAULT_MIN_OKS) -> dict:
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' loading chatter
        loader = Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))
    dataset = loader.dataset
    meta = dataset.metainfo
    sigmas = np.asarray(meta['sigmas'], np.float64)
    model = load_model(cfg, checkpoint, device, int(meta['num_keypoints']))
    head = model.head
    test_cfg = dict(model.test_cfg or {})
    branch = test_cfg.get('branch', 'one2one')
    evs = _evaluator_cfgs(cfg)
    use_area = all(e.get('use_area', True) for e in evs)
    gts = load_gt(cfg.tae_ann_file, use_area)
    evaluator = None
    if with_ap and evs:
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = Evaluator(evs)
            evaluator.dataset_meta = meta
    results = []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        feats = model.extract_feat(data['inputs'])
        cand = head.dense_outputs(feats, branch)['keypoints']  # (B, N, K, 2)
        preds = head.predict(feats, data['data_samples'], test_cfg=test_cfg)
        samples = model.add_pred_to_datasample(preds, None, data['data_samples'])
        for b, ds in enumerate(samples):
            gt = gts.get(ds.metainfo['img_id'])
            if gt is None:
                continue
            pred = ds.pred_instances
            scores = pred.bbox_scores if 'bbox_scores' in pred else pred.scores
            results.append(image_tae(
                gt['keypoints'], gt['visible'], gt['areas'], _to_image(cand[b], ds.metainfo),
                np.asarray(pred.keypoints), np.asarray(scores), sigmas, gt_ignore=gt['ignore'],
                max_dets=max_dets, min_oks=min_oks))
        if evaluator is not None:
            evaluator.process(data_samples=samples, data_batch=batch)
    summary = aggregate_tae(results)
    summary['checkpoint'] = checkpoint
    summary['ap'] = float('nan')
    if evaluator is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = evaluator.evaluate(len(dataset))
        key = next((k for k in metrics if k.endswith('/AP')), None)
        if key is not None:
            summary['ap'] = float(metrics[key])
            summary['ap_key'] = key
    return summary


# ----------------------------------------------------------------------------- report
def format_table(rows: List[dict]) -> str:
    head = (f"{'checkpoint':<28} {'images':>6} {'people':>6} {'OKS*':>7} {'OKS^':>7} "
            f"{'missed':>7} {'TAE/N':>8} {'TAE sum':>8} {'AP':>7}")
    lines = [head, '-' * len(head)]
    for r in rows:
        name = r['label'] if len(r['label']) <= 28 else '...' + r['label'][-25:]
        lines.append(f"{name:<28} {r['num_images']:>6d} {r['num_gt']:>6d} "
                     f"{r['oks_optimal']:>7.4f} {r['oks_selected']:>7.4f} {r['missed']:>7.3f} "
                     f"{r['tae']:>8.4f} {r['tae_sum']:>8.4f} {r['ap']:>7.4f}")
    return '\n'.join(lines)


def plot(rows: List[dict], rho: float, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    x = [r['tae'] for r in rows]
    y = [r['ap'] for r in rows]
    ax.scatter(x, y)
    for r in rows:
        ax.annotate(r['label'], (r['tae'], r['ap']), fontsize=7, xytext=(3, 3),
                    textcoords='offset points')
    rho_txt = 'n/a' if not np.isfinite(rho) else f'{rho:.2f}'
    ax.set_title(f'Task Alignment vs AP (Spearman \u03c1={rho_txt})')
    ax.set_xlabel('TAE (Eq. 5 / N, mean over images)')
    ax.set_ylabel('AP')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _json_safe(x):
    """nan / inf -> null, so the file is strict JSON."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = prepare_cfg(args, tmp)
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        for i, ckpt in enumerate(args.checkpoints):
            r = evaluate_checkpoint(cfg, ckpt, device, args.max_dets, with_ap=args.ap is None,
                                    min_oks=args.min_oks)
            if args.ap is not None:
                r['ap'] = float(args.ap[i])
            r['label'] = args.labels[i] if args.labels else osp.basename(ckpt)
            rows.append(r)
    rho, pval = tae_ap_correlation([r['tae'] for r in rows], [r['ap'] for r in rows])
    print(format_table(rows))
    if len(rows) > 1:
        print(f'Spearman rank correlation TAE vs AP: rho={rho:.4f} (p={pval:.3g}, '
              f'{len(rows)} checkpoints)' if np.isfinite(rho) else
              'Spearman rank correlation TAE vs AP: n/a (constant TAE or AP)')
    out = dict(config=args.config, max_dets=args.max_dets, min_oks=args.min_oks,
               checkpoints=rows, spearman_rho=rho, spearman_p=pval)
    if args.plot:
        plot(rows, rho, args.plot)
        print(f'plot written to {args.plot}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(_json_safe(out), f, indent=2)
    return out


if __name__ == '__main__':
    main()
