"""INT8 static quantization of an exported ER-Pose ONNX model (ONNX Runtime, QDQ format).

    python tools/quantize_onnx.py FP32.onnx OUT.onnx --calib IMG_DIR_OR_COCO_JSON
        [--num-calib 64] [--calib-root DIR] [--per-tensor] [--method minmax|entropy|percentile]
        [--conv-only] [--keep-float PATTERN ...] [--overwrite]

Calibration images are letterboxed by the runner's own preprocessing; the network is
quantized (int8 per-channel weights, uint8 activations), the in-graph decode stays float32;
the output has the fp32 model's inputs, outputs and runner metadata, so
``tools/onnx_infer.py OUT.onnx ...`` runs it as is. Exit status 2 with one ``error:`` line on
bad input (model or calibration folder missing, no images, unreadable image).

Torch-free: ``erpose_mm/deploy/quantize.py`` (and its siblings) are loaded by path, so
``erpose_mm/__init__`` never runs.
"""
import importlib.util
import os.path as osp
import sys

_MODULE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'erpose_mm', 'deploy',
                   'quantize.py')


def load_quantize():
    """erpose_mm/deploy/quantize.py, loaded by path (torch-free)."""
    name = 'erpose_quantize_standalone'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _MODULE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(argv=None) -> int:
    return load_quantize().main(argv)


if __name__ == '__main__':
    sys.exit(main())
