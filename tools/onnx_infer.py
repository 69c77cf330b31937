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
pass over the exported rows, ``onnx_runner.dedupe_rows``): it works on any export, with
or without a dedupe baked into the graph.

MODEL may be an OpenVINO IR ``.xml`` (``python -m erpose_mm.deploy.openvino_export``): it
runs with OpenVINO (``--backend openvino``, the default for ``.xml``; an ONNX file runs with
it too), the same outputs and options; openvino is optional (``pip install -e .[openvino]``).

Needs only numpy, opencv-python, onnxruntime, scipy and tqdm: the runner, the loop and the
tracker (erpose_mm/deploy/onnx_runner.py, erpose_mm/apis/inference_runner.py,
erpose_mm/tracking/pose_tracker.py) are loaded by path, so neither torch nor MMPose (nor
erpose_mm/__init__) is imported.
"""
import importlib.util
import os.path as osp
import sys

_LOOP = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'erpose_mm', 'apis',
                 'inference_runner.py')


def load_loop():
    """erpose_mm/apis/inference_runner.py, loaded by path (torch-free)."""
    name = 'erpose_inference_runner_standalone'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _LOOP)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(argv=None) -> int:
    return load_loop().onnx_main(argv)


if __name__ == '__main__':
    sys.exit(main())
