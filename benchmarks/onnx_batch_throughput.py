"""Images per second of the ONNX runner at several batch sizes (CPU by default).

    python -m benchmarks.onnx_batch_throughput [--onnx M.onnx] [--images DIR]
        [--batch-sizes 1 8] [--threads 1] [--passes 5] [--num-images 32] [--device cpu]

Times ``ERPoseONNX.predict_batch`` (letterbox + ONNX Runtime + mapping back) over
``--num-images`` decoded images, in consecutive batches, ``--passes`` times per batch size
(interleaved), and reports the best pass: on a shared machine the best pass is the one
least disturbed by other processes. Without ``--onnx`` it exports ER-Pose-n at 640 with
random weights and a dynamic batch axis (speed does not depend on the weights; the number
of people decoded does not change the model's cost). Without ``--images`` it uses the
demo images of ../shared/data/demo, shifted to make distinct inputs, or generated ones.
Prints a markdown table and the CPU (``lscpu`` model name and AVX flags).
"""
import argparse
import glob
import os
import os.path as osp
import sys
import tempfile
import time

import cv2
import numpy as np

from benchmarks.common.machine import cpu_line

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_images(folder, n):
    files = sorted(glob.glob(osp.join(folder, '*'))) if folder else []
    if not folder:
        demo = osp.join(osp.dirname(REPO), 'shared', 'data', 'demo')
        files = sorted(glob.glob(osp.join(demo, '*.jp*g')))
    srcs = [img for img in (cv2.imread(f) for f in files) if img is not None]
    if not srcs:  # no data: textured images of a typical photo size
        rng = np.random.default_rng(0)
        srcs = [cv2.GaussianBlur(rng.integers(0, 255, (540, 960, 3), np.uint8), (0, 0), 3)]
    return [np.roll(srcs[i % len(srcs)], 7 * i, axis=1) for i in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--onnx', default=None, help='exported model (default: random ER-Pose-n)')
    p.add_argument('--images', default=None, help='folder of images')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8])
    p.add_argument('--threads', type=int, default=1, help='ONNX Runtime intra-op threads')
    p.add_argument('--passes', type=int, default=5)
    p.add_argument('--num-images', type=int, default=32)
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)
    from erpose_mm.deploy import ERPoseONNX
    path = args.onnx
    if path is None:
        from erpose_mm.deploy.export import export_onnx
        from erpose_mm.testing import make_random_checkpoint
        tmp = tempfile.mkdtemp(prefix='erpose_batch_')
        cfg = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
        ckpt = make_random_checkpoint(cfg, osp.join(tmp, 'n.pth'), seed=0)
        path = export_onnx(cfg, ckpt, osp.join(tmp, 'erpose-n_640_dynamic.onnx'),
                           input_size=(640, 640), dynamic=True)
    runner = ERPoseONNX(path, num_threads=args.threads, device=args.device)
    if runner.max_batch is not None and max(args.batch_sizes) > runner.max_batch:
        sys.exit(f'error: {path} has a static batch of {runner.max_batch}; export it with '
                 'dynamic=True')
    imgs = load_images(args.images, args.num_images)
    runner.predict_batch(imgs[:max(args.batch_sizes)])  # warm-up
    best = {b: float('inf') for b in args.batch_sizes}
    for _ in range(args.passes):
        for b in args.batch_sizes:
            t0 = time.perf_counter()
            for i in range(0, len(imgs), b):
                runner.predict_batch(imgs[i:i + b])
            best[b] = min(best[b], time.perf_counter() - t0)
    h, w = imgs[0].shape[:2]
    print(f'{osp.basename(path)}, input {runner.input_size[0]}x{runner.input_size[1]}, '
          f'{len(imgs)} images of {w}x{h}, {args.threads} thread(s), best of {args.passes} '
          f'passes; {cpu_line()}; load average {os.getloadavg()[0]:.1f}\n')
    print('| batch | images/s | ms/image | vs batch 1 |')
    print('|---|---|---|---|')
    base = best[args.batch_sizes[0]]
    for b in args.batch_sizes:
        print(f'| {b} | {len(imgs) / best[b]:.2f} | {1e3 * best[b] / len(imgs):.0f} | '
              f'{base / best[b]:.2f}x |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
