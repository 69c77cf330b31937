"""INT8 static quantization of an exported ER-Pose ONNX model (ONNX Runtime, QDQ format).

    python tools/quantize_onnx.py FP32.onnx OUT.onnx --calib IMG_DIR_OR_COCO_JSON
        [--num-calib 64] [--calib-root DIR] [--per-tensor] [--method minmax|entropy|percentile]
        [--conv-only] [--keep-float PATTERN ...] [--overwrite]

Calibration images are letterboxed by the runner's own preprocessing; the network is
quantized (int8 per-channel weights, uint8 activations), the in-graph decode stays float32;
the output has the fp32 model's inputs, outputs and runner metadata, so
``tools/onnx_infer.py OUT.onnx ...`` runs it as is. Exit status 2 with one ``error:`` line on
bad input (model or calibration folder missing, no images, unreadable image).

Torch-free: run as a script it sets ``ERPOSE_MM_RUNTIME_ONLY=1`` before importing
``erpose_mm.deploy.quantize``, so ``import erpose_mm`` registers nothing and loads
neither torch nor MMPose.
"""
import os
import sys


def main(argv=None) -> int:
    from erpose_mm.deploy.quantize import main as quantize_main
    return quantize_main(argv)


if __name__ == '__main__':
    os.environ.setdefault('ERPOSE_MM_RUNTIME_ONLY', '1')
    sys.exit(main())
