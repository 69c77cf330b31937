"""Run an exported ER-Pose ONNX model on an image, a folder, a video, a camera or a stream.

    python tools/onnx_infer.py MODEL.onnx INPUT [--out-dir DIR] [--overwrite]
        [--score-thr 0.3] [--dedupe-thr THR] [--kpt-thr 0.3] [--batch-size N] [--track]
        [--show] [--device cpu|cuda] [--input-size W [H]] [--threads N] [--no-vis] [--no-bbox]
        [--backend onnxruntime|openvino]

INPUT: an image, a folder of images, a video file, ``webcam`` / ``webcam:N`` / a camera
index N, or a stream URL OpenCV opens (``rtsp://...``). Writes DIR/predictions/NAME.json
(MMPoseInferencer's format, the same as ``tools/infer.py``) and DIR/visualizations/NAME
(NAME = the input's file name, e.g. ``a.jpg.json``); refuses to replace files of an
earlier run unless ``--overwrite``. Exit status 2 on bad input, with the file named.
``--dedupe-thr THR`` drops duplicates with the runner's numpy OKS dedupe (one parallel
pass over the exported rows, ``erpose_mm.runtime.dedupe_rows``): it works on any export, with
or without a dedupe baked into the graph.

MODEL may be an OpenVINO IR ``.xml`` (``python -m erpose_mm.deploy.openvino_export``): it
runs with OpenVINO (``--backend openvino``, the default for ``.xml``; an ONNX file runs with
it too), the same outputs and options; openvino is optional (``pip install -e .[openvino]``).

Needs only numpy, opencv-python, onnxruntime, scipy and tqdm: run as a script it sets
``ERPOSE_MM_RUNTIME_ONLY=1`` before importing :mod:`erpose_mm.runtime` (the runner, the
loop and the tracker), so ``import erpose_mm`` registers nothing and neither torch nor
MMPose is loaded. ``python -m erpose_mm.runtime`` is the same command line.
"""
import os
import sys


def main(argv=None) -> int:
    from erpose_mm.runtime.cli import onnx_main
    return onnx_main(argv)


if __name__ == '__main__':
    os.environ.setdefault('ERPOSE_MM_RUNTIME_ONLY', '1')
    sys.exit(main())
