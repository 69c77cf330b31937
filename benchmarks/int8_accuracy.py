#!/usr/bin/env python
"""AP of ER-Pose exported fp32 vs INT8 (ONNX Runtime static quantization) vs OpenVINO.

One trained learning-benchmark row (default: ER-Pose-n, seed 0, epoch 8, 256x256 input) is
exported with ``export_onnx`` (score_thr 0.01, max_per_img 100: the evaluation settings),
quantized with ``erpose_mm.deploy.quantize.quantize_onnx`` (calibration on training images,
letterboxed by the runner), converted to OpenVINO IRs (fp32 and from the INT8 QDQ file),
and every model runs through the same runner (``ERPoseONNX``) over the val images; the
COCO keypoint results are scored per split with ``scoring.score_keypoints`` (crowded:
CrowdPose metric). Accuracy only: no timing (see ``benchmarks.latency``).

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.int8_accuracy \\
        [--row work_dirs/lb_sah/rows/erpose-n_seed0] [--epoch 8] [--num-calib 64 200] \\
        [--keep-float /backbone/stem/ ...] [--out benchmarks/results/int8_accuracy.json]

``--keep-float PATTERN ...`` adds one INT8 variant per pattern with the nodes whose names
contain it left in float32 (a layer-sensitivity probe, when the INT8 loss is too large).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

SPLITS = ('mixed', 'crowded')
DEFAULT_ROW = osp.join(ROOT, 'work_dirs', 'lb_sah', 'rows', 'erpose-n_seed0')


def parse_args(argv=None):
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--row', default=DEFAULT_ROW,
                   help='learning-benchmark row folder (spec.json, train/epoch_N.pth)')
    p.add_argument('--epoch', type=int, default=8)
    p.add_argument('--data-root', default=None, help="default: the row's spec data_root")
    p.add_argument('--calib', default=None, help='calibration images (default: DATA/train)')
    p.add_argument('--num-calib', type=int, nargs='+', default=[64, 200])
    p.add_argument('--keep-float', nargs='*', default=[],
                   help='one extra INT8 variant per node-name pattern kept float32')
    p.add_argument('--conv-only', action='store_true',
                   help="extra INT8 variant: only the convolutions' inputs / weights quantized")
    p.add_argument('--no-openvino', action='store_true')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'int8_accuracy'))
    p.add_argument('--out', default=None, help='write the table and numbers as JSON here')
    return p.parse_args(argv)


def coco_results(runner, paths: Sequence[str], ids: Sequence[int]) -> List[dict]:
    """COCO keypoint results (score = person score, as CocoMetric score_mode='bbox')."""
    out = []
    for path, image_id in zip(paths, ids):
        for p in runner(path):
            kpts = [v for (x, y), s in zip(p['keypoints'], p['keypoint_scores'])
                    for v in (x, y, s)]
            x1, y1, x2, y2 = p['bbox']
            out.append(dict(image_id=int(image_id), category_id=1, keypoints=kpts,
                            score=float(p['bbox_score']), bbox=[x1, y1, x2 - x1, y2 - y1]))
    return out


def score_model(model_path: str, data_root: str, threads: int,
                backend: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """``{split: metrics}`` of one exported model (runner with the export's own floor)."""
    from benchmarks.learning_benchmark import data as D
    from benchmarks.learning_benchmark.scoring import score_keypoints
    from erpose_mm.deploy.onnx_runner import ERPoseONNX
    runner = ERPoseONNX(model_path, score_thr=None, num_threads=threads, backend=backend)
    res = {}
    for sp in SPLITS:
        gt_json = osp.join(data_root, D.val_json(sp))
        with open(gt_json) as f:
            images = json.load(f)['images']
        paths = [osp.join(data_root, 'val', im['file_name']) for im in images]
        results = coco_results(runner, paths, [im['id'] for im in images])
        res[sp] = score_keypoints(gt_json, results, crowd=sp == 'crowded')
    return res


def torch_reference(row: str, epoch: int, data_root: str) -> Optional[Dict[str, Dict]]:
    """The row's own MMPose test predictions (PyTorch, ``preds_own_eN``), scored the same
    way, when the file exists."""
    from benchmarks.learning_benchmark import data as D
    from benchmarks.learning_benchmark.scoring import load_json, score_keypoints, split_results
    path = osp.join(row, f'preds_own_e{epoch}.keypoints.json')
    if not osp.isfile(path):
        return None
    res = load_json(path)
    out = {}
    for sp in SPLITS:
        gt_json = osp.join(data_root, D.val_json(sp))
        ids = [im['id'] for im in load_json(gt_json)['images']]
        out[sp] = score_keypoints(gt_json, split_results(res, ids), crowd=sp == 'crowded')
    return out


def export_row(row: str, epoch: int, out_file: str) -> str:
    """Export the row's checkpoint at its input size (score_thr 0.01, max_per_img 100)."""
    from benchmarks.learning_benchmark.mm_worker import build_mm_cfg
    from erpose_mm.deploy.export import export_onnx
    with open(osp.join(row, 'spec.json')) as f:
        spec = json.load(f)
    cfg = build_mm_cfg(spec, 1)
    cfg = cfg[0] if isinstance(cfg, tuple) else cfg
    size = int(spec['budget']['input'])
    ckpt = osp.join(row, 'train', f'epoch_{epoch}.pth')
    if not osp.isfile(ckpt):
        raise SystemExit(f'error: {ckpt}: checkpoint not found')
    return export_onnx(cfg, ckpt, out_file, input_size=(size, size), score_thr=0.01,
                       max_per_img=100)


def table(rows: List[dict]) -> str:
    """Markdown table: AP / AP50 per split and the change against fp32 ORT."""
    base = next((r for r in rows if r['name'] == 'fp32 ORT'), rows[0])
    head = ('| model | runtime | mixed AP | mixed AP50 | crowded AP | crowded AP50 | '
            'd AP mixed | d AP crowded |')
    lines = [head, '|' + '---|' * 8]
    for r in rows:
        m, c = r['scores']['mixed'], r['scores']['crowded']
        dm = m['AP'] - base['scores']['mixed']['AP']
        dc = c['AP'] - base['scores']['crowded']['AP']
        lines.append(f"| {r['name']} | {r['runtime']} | {m['AP']:.4f} | {m['AP50']:.4f} | "
                     f"{c['AP']:.4f} | {c['AP50']:.4f} | {dm:+.4f} | {dc:+.4f} |")
    return '\n'.join(lines)


def main(argv=None) -> int:
    """Export, quantize, convert, score, print the table."""
    args = parse_args(argv)
    import erpose_mm  # noqa: F401  (registers the modules)
    from erpose_mm.deploy.quantize import quantize_onnx
    with open(osp.join(args.row, 'spec.json')) as f:
        spec = json.load(f)
    data_root = args.data_root or spec['data_root']
    calib = args.calib or osp.join(data_root, 'train')
    os.makedirs(args.work_dir, exist_ok=True)
    wd = lambda name: osp.join(args.work_dir, name)  # noqa: E731
    t0 = time.time()
    fp32 = export_row(args.row, args.epoch, wd('fp32.onnx'))
    models = [dict(name='fp32 ORT', runtime='onnxruntime', path=fp32)]
    int8_main = None
    for n in args.num_calib:
        path = quantize_onnx(fp32, wd(f'int8_c{n}.onnx'), calib, num_calib=n)
        int8_main = int8_main or path
        models.append(dict(name=f'INT8 ORT (calib {n})', runtime='onnxruntime', path=path))
    n0 = args.num_calib[0]
    if args.conv_only:
        models.append(dict(name=f'INT8 ORT, Conv only (calib {n0})', runtime='onnxruntime',
                           path=quantize_onnx(fp32, wd(f'int8_c{n0}_convonly.onnx'), calib,
                                              num_calib=n0, op_types_to_quantize=('Conv', ))))
    for k, pat in enumerate(args.keep_float):
        models.append(dict(name=f'INT8 ORT, {pat} float (calib {n0})', runtime='onnxruntime',
                           path=quantize_onnx(fp32, wd(f'int8_c{n0}_keep{k}.onnx'), calib,
                                              num_calib=n0, keep_float=[pat])))
    if not args.no_openvino:
        from erpose_mm.deploy.openvino_export import export_openvino
        models.append(dict(name='OpenVINO fp32', runtime='openvino',
                           path=export_openvino(fp32, wd('ov_fp32/model.xml'))))
        if int8_main:
            models.append(dict(name=f'OpenVINO INT8 (calib {n0} QDQ)', runtime='openvino',
                               path=export_openvino(int8_main, wd('ov_int8/model.xml'))))
    rows = []
    ref = torch_reference(args.row, args.epoch, data_root)
    if ref is not None:
        rows.append(dict(name='PyTorch (MMPose test)', runtime='torch', path='', scores=ref))
    for m in models:
        print(f'[int8_accuracy] scoring {m["name"]} ...', file=sys.stderr)
        m['scores'] = score_model(m['path'], data_root, args.threads, m['runtime'])
        rows.append(m)
    md = table(rows)
    print(md)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(date=time.strftime('%Y-%m-%d'), row=args.row, epoch=args.epoch,
                           calib=calib, rows=rows, table=md, seconds=time.time() - t0), f,
                      indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
