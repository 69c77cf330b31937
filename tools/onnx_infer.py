"""Run an exported ER-Pose ONNX model on an image, a folder of images or a video.

    python tools/onnx_infer.py MODEL.onnx IMG_OR_DIR_OR_VIDEO [--out-dir DIR]
        [--score-thr 0.3] [--kpt-thr 0.3] [--input-size W [H]] [--no-vis] [--threads N]

Writes DIR/visualizations/NAME.jpg (skeletons drawn) and DIR/predictions/NAME.json
(per person: keypoints [[x, y]] * K, keypoint_scores, bbox [x1, y1, x2, y2] from the
keypoints, bbox_score), in original-image pixels. Exit status 2 on bad input, with the
offending file named.

Needs only numpy, opencv-python and onnxruntime: the runner module
(erpose_mm/deploy/onnx_runner.py) is loaded by path, so neither torch nor MMPose (nor
erpose_mm/__init__) is imported.
"""
import importlib.util
import os.path as osp
import sys

_RUNNER = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'erpose_mm', 'deploy',
                   'onnx_runner.py')


def load_runner():
    spec = importlib.util.spec_from_file_location('erpose_onnx_runner', _RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


if __name__ == '__main__':
    sys.exit(load_runner().main())
