"""``python -m erpose_mm.runtime MODEL.onnx INPUT [options]``: ``tools/onnx_infer.py``."""
import sys

from .cli import onnx_main

if __name__ == '__main__':
    sys.exit(onnx_main())
