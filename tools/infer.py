"""ER-Pose inference with PyTorch through MMPose's inferencer: image, folder, video,
camera or stream.

    python tools/infer.py CONFIG_OR_ALIAS CHECKPOINT INPUT [--out-dir DIR] [--overwrite]
        [--score-thr 0.3] [--dedupe-thr THR] [--kpt-thr 0.3] [--batch-size N] [--track]
        [--show] [--device cpu|cuda|cuda:N] [--no-vis] [--no-bbox] [--radius R] [--thickness T]
        [--allow-partial-checkpoint]

INPUT: an image, a folder of images, a video file, ``webcam`` / ``webcam:N`` / a camera
index N, or a stream URL OpenCV opens (``rtsp://...``). CONFIG_OR_ALIAS: a config file or
a model name of ``configs/erpose/metafile.yml`` (``erpose-n``, ``erpose-s``, ...).

Writes DIR/predictions/NAME.json (MMPoseInferencer's format: per person keypoints,
keypoint_scores, bbox [[x1, y1, x2, y2]] derived from the keypoints, bbox_score, and
track_id with --track; for a video ``[{frame_id, instances}]``) and DIR/visualizations/NAME,
NAME being the input's file name (``a.jpg.json``, so ``a.jpg`` and ``a.png`` do not
collide). Files of an earlier run are not replaced unless ``--overwrite``. The options,
outputs and default thresholds are those of ``tools/onnx_infer.py``: the loop is
``erpose_mm/runtime/inference_loop.py``.

The model runs through ``MMPoseInferencer(pose2d=..., pose2d_weights=...)``: its pipeline
(``BottomupResize``), data preprocessor and ``bbox_thr`` -> head ``score_thr``; a batch
of images is collated into one ``model.test_step`` call (MMPoseInferencer itself feeds one
image at a time). A checkpoint that does not fit the config (another scale, keypoint
count or model) is refused with one line unless ``--allow-partial-checkpoint``.
``import erpose_mm`` comes before ``mmpose.apis`` (torchvision stub, ER-Pose registration,
model aliases), then ``erpose_mm.compat.apply_stack_adapters()`` (full checkpoint loading
on torch >= 2.6, the numpy-2.4 visualizer fix).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional


def parse_args(argv=None):
    from erpose_mm.runtime.cli import add_common_args
    p = argparse.ArgumentParser(description='ER-Pose inference (PyTorch, MMPoseInferencer)')
    p.add_argument('config', help="model config (configs/erpose/*.py) or alias ('erpose-n')")
    p.add_argument('checkpoint', help='checkpoint (.pth)')
    add_common_args(p)
    p.add_argument('--allow-partial-checkpoint', action='store_true',
                   help='run even when checkpoint tensors are missing or mis-shaped for the '
                   'config (they keep their random initialisation)')
    return p.parse_args(argv)


def check_device(device: str) -> str:
    """'cpu', 'cuda' or 'cuda:N' that torch can use; raise DeviceError (one line)."""
    import torch
    from erpose_mm.runtime.onnx_runner import DeviceError
    d = device.lower()
    if d == 'cpu':
        return d
    if d == 'cuda' or (d.startswith('cuda:') and d[5:].isdigit()):
        if torch.version.cuda is None:
            raise DeviceError(f'--device {device}: this torch ({torch.__version__}) is a CPU '
                              'build without CUDA; install a CUDA build of torch')
        if not torch.cuda.is_available():
            raise DeviceError(f'--device {device}: torch {torch.__version__} (CUDA '
                              f'{torch.version.cuda}) finds no CUDA device or driver')
        idx = int(d[5:]) if ':' in d else 0
        if idx >= torch.cuda.device_count():
            raise DeviceError(f'--device {device}: only {torch.cuda.device_count()} CUDA '
                              'device(s) visible')
        return d
    raise DeviceError(f'--device {device}: expected cpu, cuda or cuda:N')


class MMPosePredictor:
    """Batched ER-Pose predictions through MMPose's ``Pose2DInferencer``.

    ``__call__(images)``: list of BGR uint8 arrays -> per image a list of people
    (``keypoints`` (K, 2), ``keypoint_scores`` (K,), ``bbox`` [x1, y1, x2, y2],
    ``bbox_score``) with score > ``score_thr``, in original-image pixels.
    """

    def __init__(self, config: str, checkpoint: str, device: str, score_thr: float,
                 allow_partial: bool = False, dedupe_thr: Optional[float] = None) -> None:
        from mmpose.apis import MMPoseInferencer

        from erpose_mm.utils.checkpoint_fit import check_checkpoint_fits, load_state_dict_file

        # an empty, truncated or non-checkpoint file: one line (CheckpointMismatchError),
        # as tools/test.py and tools/deploy.py, before MMEngine's loader raises
        state_dict = load_state_dict_file(checkpoint)
        self.pose = MMPoseInferencer(pose2d=config, pose2d_weights=checkpoint,
                                     device=device).inferencer
        # MMEngine loads non-strictly: refuse (one line) a checkpoint of another scale,
        # keypoint count or model instead of running random layers
        check_checkpoint_fits(self.pose.model, checkpoint, cfg_name=config,
                              allow_partial=allow_partial, state_dict=state_dict)
        self.score_thr = float(score_thr)
        model = self.pose.model
        # what BaseMMPoseInferencer.preprocess does with bbox_thr for one-stage models
        test_cfg = dict(model.head.test_cfg)
        if 'score_thr' in test_cfg:
            test_cfg['score_thr'] = self.score_thr
        if dedupe_thr is not None:  # the head's parallel OKS dedupe over the top-k
            test_cfg['dedupe_thr'] = float(dedupe_thr)
        model.test_cfg = test_cfg
        meta = model.dataset_meta or {}
        self.skeleton = [tuple(int(v) for v in link) for link in meta.get('skeleton_links', [])]

        def tolist(x):
            return None if x is None else [[int(c) for c in col] for col in x]
        self.meta = dict(keypoint_colors=tolist(meta.get('keypoint_colors')),
                         skeleton_link_colors=tolist(meta.get('skeleton_link_colors')))

    def __call__(self, images: List) -> List[List[dict]]:
        import torch
        infos = [d for i, img in enumerate(images)
                 for d in self.pose.preprocess_single(img, index=i, bbox_thr=self.score_thr)]
        with torch.no_grad():
            samples = self.pose.forward(self.pose.collate_fn(infos), bbox_thr=self.score_thr)
        out = []
        for ds in samples:
            inst = ds.pred_instances
            kpts = inst.keypoints
            out.append([dict(keypoints=kpts[i].tolist(),
                             keypoint_scores=inst.keypoint_scores[i].tolist(),
                             bbox=inst.bboxes[i].tolist(),
                             bbox_score=float(inst.bbox_scores[i]))
                        for i in range(len(kpts))])
        return out


def main(argv=None) -> int:
    args = parse_args(argv)
    import erpose_mm  # noqa: F401  (must precede mmpose.apis, see the module docstring)
    from erpose_mm.apis import find_model
    from erpose_mm.compat import apply_stack_adapters
    from erpose_mm.runtime.cli import check_common_args, model_score_thr
    from erpose_mm.runtime.inference_loop import InferenceLoop, InputError, parse_source
    apply_stack_adapters()  # checkpoint loading (torch >= 2.6), MMPose's visualizer
    if not osp.isfile(args.config) and find_model(args.config) is None:
        print(f'error: model config not found: {args.config} (a file, or a name of '
              'configs/erpose/metafile.yml such as erpose-n)', file=sys.stderr)
        return 2
    if not osp.isfile(args.checkpoint):
        print(f'error: checkpoint not found: {args.checkpoint}', file=sys.stderr)
        return 2
    try:
        check_common_args(args)
        device = check_device(args.device)
        source = parse_source(args.input)
        predictor = MMPosePredictor(args.config, args.checkpoint, device,
                                    model_score_thr(args), args.allow_partial_checkpoint,
                                    dedupe_thr=args.dedupe_thr)
        return InferenceLoop(predictor, args, predictor.skeleton, predictor.meta).run(source)
    except (InputError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
