"""ER-Pose inference with MMPose's MMPoseInferencer (image, folder or video).

    python tools/infer.py CONFIG CHECKPOINT INPUT [--out-dir DIR] [--score-thr 0.3]
        [--kpt-thr 0.3] [--device cpu] [--no-bbox] [--radius 3] [--thickness 1]

Writes DIR/visualizations/NAME (drawn skeletons; NAME.mp4 for a video) and
DIR/predictions/NAME.json (per person: keypoints, keypoint_scores, bbox derived from the
keypoints, bbox_score; for a video one entry per frame), in original-image pixels.

A thin layer over ``MMPoseInferencer(pose2d=CONFIG, pose2d_weights=CHECKPOINT)``; what it
adds:

* ``import erpose_mm`` before ``mmpose.apis`` (registers ER-Pose and the torchvision
  stub without which ``mmpose.apis`` cannot be imported here, and the numpy-2.4
  visualizer fix; the config's ``custom_imports`` would come too late);
* input checks with errors that name the file: missing file / video, empty folder,
  unreadable or non-image files (skipped with a warning inside a folder, an error when
  named directly), a folder's non-image files are ignored (MMPose's own folder listing
  crashes on files of unknown type);
* ``--score-thr`` is the person score threshold (MMPoseInferencer's ``bbox_thr``, which
  it copies into the head's ``test_cfg.score_thr``).

Grayscale, RGBA and 16-bit images are read as 8-bit BGR (``mmcv.imread``, like
``onnx_runner``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='ER-Pose inference (MMPoseInferencer)')
    p.add_argument('config', help='model config (configs/erpose/*.py)')
    p.add_argument('checkpoint', help='checkpoint (.pth)')
    p.add_argument('input', help='image file, folder of images, or video file')
    p.add_argument('--out-dir', default=None,
                   help='write visualizations/ and predictions/ (JSON) here')
    p.add_argument('--score-thr', type=float, default=0.3, help='person score threshold')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='keypoint drawing threshold')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-bbox', action='store_true', help='do not draw boxes')
    p.add_argument('--radius', type=int, default=3)
    p.add_argument('--thickness', type=int, default=1)
    p.add_argument('--show', action='store_true', help='show results in a window')
    return p.parse_args(argv)


def collect_inputs(path: str):
    """-> (inputs for MMPoseInferencer, kind, skipped files). Raises InputError."""
    from erpose_mm.deploy.onnx_runner import InputError, check_video, list_inputs, read_image
    kind, files = list_inputs(path)
    if kind == 'video':
        check_video(path)
        return path, kind, []
    good, skipped = [], []
    for f in files:
        try:
            read_image(f)  # same decoder and flags as mmcv.imread
            good.append(f)
        except InputError as e:
            if kind == 'image':
                raise
            print(f'warning: skipped {e}', file=sys.stderr)
            skipped.append(f)
    if not good:
        raise InputError(f'{path}: none of its {len(files)} image files could be read')
    return good, kind, skipped


def main(argv=None) -> int:
    args = parse_args(argv)
    import erpose_mm  # noqa: F401  (must precede mmpose.apis, see the module docstring)
    from erpose_mm.deploy.onnx_runner import InputError
    for path, what in ((args.config, 'model config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            print(f'error: {what} not found: {path}', file=sys.stderr)
            return 2
    try:
        inputs, kind, skipped = collect_inputs(args.input)
    except InputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2

    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=args.config, pose2d_weights=args.checkpoint,
                                  device=args.device)
    n_frames = n_people = 0
    for result in inferencer(inputs, out_dir=args.out_dir, bbox_thr=args.score_thr,
                             kpt_thr=args.kpt_thr, draw_bbox=not args.no_bbox,
                             radius=args.radius, thickness=args.thickness, show=args.show):
        for preds in result['predictions']:
            n_frames += 1
            n_people += len(preds)
    print(f'{args.input}: {n_frames} {"frames" if kind == "video" else "images"}, '
          f'{n_people} people' + (f', {len(skipped)} unreadable files skipped'
                                  if skipped else ''))
    if args.out_dir:
        print(f'results written to {args.out_dir}/visualizations and '
              f'{args.out_dir}/predictions')
    return 0


if __name__ == '__main__':
    sys.exit(main())
