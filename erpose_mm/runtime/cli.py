"""The command-line options that ``tools/infer.py`` and ``tools/onnx_infer.py`` share, and
the ONNX command line (``tools/onnx_infer.py``, ``python -m erpose_mm.runtime``).

Torch-free: the ONNX command line needs numpy, opencv, onnxruntime, scipy and tqdm.
"""
import argparse
import sys
from typing import Callable

from .constants import DISPLAY_SCORE_THR
from .image_io import InputError
from .inference_loop import InferenceLoop, parse_source
from .onnx_runner import ERPoseONNX


# ----------------------------------------------------------------------------- options
def unit_interval(flag: str, open_low: bool = False) -> Callable[[str], float]:
    """argparse ``type`` for a threshold in [0, 1] (``open_low``: (0, 1]); argparse turns
    the error into ``argument FLAG: ...`` (one line, exit status 2)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{flag}: expected a number, got {text!r}') from None
        ok = (0.0 < v <= 1.0) if open_low else (0.0 <= v <= 1.0)
        if not ok:
            raise argparse.ArgumentTypeError(
                f'{flag} must be in {"(0, 1]" if open_low else "[0, 1]"} (scores and OKS lie '
                f'in [0, 1]), got {text}')
        return v
    return parse


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The options both tools share (after their model arguments)."""
    p.add_argument('input', help="image, folder of images, video file, camera ('webcam', "
                   "'webcam:N' or an index N) or a stream URL OpenCV opens (rtsp://...)")
    p.add_argument('--out-dir', default=None,
                   help='write predictions/NAME.json and visualizations/ here')
    p.add_argument('--overwrite', action='store_true',
                   help='replace output files of an earlier run (default: refuse)')
    p.add_argument('--score-thr', type=unit_interval('--score-thr'), default=DISPLAY_SCORE_THR,
                   help='person score threshold in [0, 1] for the results and drawings '
                   '(default 0.3, both tools)')
    p.add_argument('--dedupe-thr', type=unit_interval('--dedupe-thr', open_low=True),
                   default=None, metavar='THR',
                   help='drop a person whose OKS with a higher-scored one exceeds THR in '
                   '(0, 1]: one parallel pass over the top-k (default: off, NMS-free)')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='keypoint drawing threshold')
    p.add_argument('--batch-size', type=int, default=1,
                   help='images / frames per model call (folders and videos)')
    p.add_argument('--track', action='store_true',
                   help='keep person IDs across frames (OKS + motion, ByteTrack scheme)')
    p.add_argument('--track-low-thr', type=float, default=0.1,
                   help='lowest score a detection may have to continue a track')
    p.add_argument('--track-max-age', type=int, default=30,
                   help='frames a lost person is remembered')
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    p.add_argument('--show', action='store_true',
                   help='show the results in a window (q or Esc stops)')
    p.add_argument('--no-vis', action='store_true', help='do not write visualizations')
    p.add_argument('--no-bbox', action='store_true', help='do not draw boxes')
    p.add_argument('--radius', type=int, default=None, help='keypoint radius (px)')
    p.add_argument('--thickness', type=int, default=None, help='line width (px)')


def check_common_args(args) -> None:
    """Raise ValueError (one line) on option values that cannot work."""
    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.track and not 0 <= args.track_low_thr <= args.score_thr:
        raise ValueError(f'--track-low-thr ({args.track_low_thr}) must be between 0 and '
                         f'--score-thr ({args.score_thr})')


def model_score_thr(args) -> float:
    """The threshold the model must apply: with --track the tracker also needs the
    low-score detections (ByteTrack's second association)."""
    return min(args.score_thr, args.track_low_thr) if args.track else args.score_thr


# ----------------------------------------------------------------------------- ONNX CLI
def build_onnx_parser() -> argparse.ArgumentParser:
    """The options of ``tools/onnx_infer.py``."""
    p = argparse.ArgumentParser(
        description='Run an exported ER-Pose ONNX model (numpy + onnxruntime + opencv) on '
                    'an image, folder, video, camera or stream.')
    p.add_argument('model', help='exported .onnx file (export_onnx / tools/deploy.py) or '
                   'OpenVINO IR .xml (erpose_mm.deploy.openvino_export)')
    add_common_args(p)
    p.add_argument('--input-size', type=int, nargs='+', default=None,
                   help='network input W [H] for dynamic models (default: export size)')
    p.add_argument('--threads', type=int, default=None,
                   help='intra-op threads (ONNX Runtime / OpenVINO)')
    p.add_argument('--backend', choices=('onnxruntime', 'openvino'), default=None,
                   help='runtime (default: openvino for an OpenVINO IR .xml, else onnxruntime; '
                   'openvino: pip install -e .[openvino])')
    return p


def onnx_main(argv=None) -> int:
    """``tools/onnx_infer.py MODEL.onnx INPUT [options]`` (see :func:`add_common_args`)."""
    args = build_onnx_parser().parse_args(argv)
    try:
        check_common_args(args)
        runner = ERPoseONNX(args.model, score_thr=model_score_thr(args),
                                input_size=args.input_size, num_threads=args.threads,
                                device=args.device, dedupe_thr=args.dedupe_thr,
                                backend=args.backend)
        source = parse_source(args.input)
        if runner.max_batch is not None and args.batch_size > runner.max_batch:
            print(f'note: {args.model} has a static batch of {runner.max_batch} (export with '
                  f'dynamic=True for batches); running --batch-size {runner.max_batch}',
                  file=sys.stderr)
            args.batch_size = runner.max_batch
        if model_score_thr(args) < runner.export_score_thr:
            print(f'note: {args.model} was exported with score_thr '
                  f'{runner.export_score_thr}: people below it are not in its output',
                  file=sys.stderr)
        return InferenceLoop(runner.predict_batch, args, runner.skeleton, runner.meta) \
            .run(source)
    except (InputError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
