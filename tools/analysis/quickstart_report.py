"""Summarise a training run: loss/AP curves, an image with drawn predictions, AP/AR.

    python tools/analysis/quickstart_report.py CONFIG CHECKPOINT --work-dir DIR
           [--test-log DIR/test.log] [--image IMG] [--train-seconds S]
"""
import argparse
import glob
import json
import os
import os.path as osp
import re

import erpose_mm  # noqa: F401  (registers the ER-Pose modules)


def load_scalars(work_dir: str):
    """Read MMEngine's vis_data/scalars.json files (one json object per line)."""
    train, val = [], []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'coco/AP' in rec:
                    val.append(rec)
                elif 'loss' in rec:
                    train.append(rec)
    return train, val


def plot_curves(train, val, out_file: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax1 = plt.subplots(figsize=(7, 4))
    if train:
        ax1.plot([r['step'] for r in train], [r['loss'] for r in train], label='train loss',
                 color='tab:blue')
    ax1.set_xlabel('iteration')
    ax1.set_ylabel('loss', color='tab:blue')
    if val:
        ax2 = ax1.twinx()
        # val records are logged by epoch; place them at the iteration of that epoch's end
        iters_per_epoch = max((r['step'] for r in train), default=1) / max(
            (r.get('epoch', 1) for r in train), default=1)
        xs = [r['step'] * iters_per_epoch for r in val]
        ax2.plot(xs, [r['coco/AP'] for r in val], 'o-', color='tab:red', label='val AP')
        ax2.plot(xs, [r['coco/AR'] for r in val], 's--', color='tab:orange', label='val AR')
        ax2.set_ylabel('COCO keypoint AP / AR', color='tab:red')
        ax2.set_ylim(0, 1)
        ax2.legend(loc='center right')
    ax1.set_title('ER-Pose-n on synthetic data')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def draw_predictions(config: str, checkpoint: str, image: str, out_file: str) -> int:
    import mmcv
    from mmpose.apis import inference_bottomup, init_model
    from mmpose.registry import VISUALIZERS

    from erpose_mm.compat import apply_stack_adapters
    apply_stack_adapters()  # checkpoint loading (torch >= 2.6), MMPose's visualizer
    model = init_model(config, checkpoint, device='cpu')
    result = inference_bottomup(model, image)[0]
    vis = VISUALIZERS.build(dict(type='PoseLocalVisualizer', radius=3, line_width=2,
                                 name='erpose_quickstart'))
    vis.set_dataset_meta(model.dataset_meta)
    img = mmcv.imread(image, channel_order='rgb')
    inst = result.pred_instances
    keep = inst.bbox_scores > 0.3
    result.pred_instances = inst[keep]
    vis.add_datasample('pred', img, data_sample=result, draw_gt=False, draw_bbox=True,
                       kpt_thr=0.3, show=False, out_file=out_file)
    return int(keep.sum())


def machine_lines(cfg, train) -> list:
    """What the training time depends on: the CPU (model, threads per core, ISA flags),
    torch's threads, whether the config's bf16 autocast ran natively, the median step."""
    import statistics

    import torch
    from erpose_mm.engine import cpu_has_native_bf16
    from erpose_mm.utils.machine import cpu_line

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else float('nan')
    lines = [f'CPU                : {cpu_line()}',
             f'torch threads      : {torch.get_num_threads()}']
    if cfg.optim_wrapper.get('type') == 'CPUBF16OptimWrapper':
        lines.append('training precision : ' + (
            'bf16 autocast (backbone, neck), native bf16' if cpu_has_native_bf16()
            else 'fp32 (this CPU has no native bf16)'))
    steps = [r['time'] for r in train if 'time' in r]
    if steps:
        data = med([r.get('data_time') for r in train])
        lines.append(f's per iteration    : {med(steps):.3f} (median of {len(steps)} logged;'
                     f' data {data:.3f})')
    return lines


def parse_test_log(path: str) -> dict:
    metrics = {}
    if path and osp.isfile(path):
        text = open(path).read()
        for key in ('AP', 'AP .5', 'AP .75', 'AR'):
            m = re.findall(r'coco/' + re.escape(key) + r': ([0-9.]+)', text)
            if m:
                metrics[key] = float(m[-1])
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--test-log')
    parser.add_argument('--image', help='image to draw (default: first val image)')
    parser.add_argument('--train-seconds', type=float)
    args = parser.parse_args()
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    train, val = load_scalars(args.work_dir)
    curves = osp.join(args.work_dir, 'curves.png')
    plot_curves(train, val, curves)
    image = args.image
    if image is None:
        ds = cfg.val_dataloader.dataset
        ann = json.load(open(osp.join(ds.data_root, ds.ann_file)))
        img_ids = {a['image_id'] for a in ann['annotations'] if not a.get('iscrowd')}
        first = next(i for i in ann['images'] if i['id'] in img_ids)
        image = osp.join(ds.data_root, ds.data_prefix['img'], first['file_name'])
    pred_img = osp.join(args.work_dir, 'predictions.jpg')
    n = draw_predictions(args.config, args.checkpoint, image, pred_img)
    metrics = parse_test_log(args.test_log)
    print('\n==================== ER-Pose quickstart summary ====================')
    if args.train_seconds:
        print(f'training time      : {args.train_seconds / 60:.1f} min')
    for line in machine_lines(cfg, train):
        print(line)
    for k, v in metrics.items():
        print(f'val {k:<14} : {v:.3f}')
    print(f'checkpoint         : {args.checkpoint}')
    print(f'loss / AP curves   : {curves}')
    who = 'person' if n == 1 else 'people'
    print(f'drawn predictions  : {pred_img} ({n} {who} with score > 0.3)')
    preds = glob.glob(osp.join(args.work_dir, 'test', 'preds*.json'))
    if preds:
        print(f'COCO results json  : {preds[0]}')
    print('====================================================================')


if __name__ == '__main__':
    main()
