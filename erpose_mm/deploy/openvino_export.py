"""Convert an exported ER-Pose ONNX model (fp32, or the INT8 QDQ file of
:mod:`erpose_mm.deploy.quantize`) to an OpenVINO IR (``.xml`` + ``.bin``).

    python -m erpose_mm.deploy.openvino_export MODEL.onnx OUT.xml

``openvino.convert_model`` reads the ONNX graph (QuantizeLinear / DequantizeLinear pairs
become FakeQuantize: the IR of an INT8 QDQ model runs the network in INT8) and
``openvino.save_model`` writes it with float32 weights (``compress_to_fp16=False``: the
IR holds what the ONNX file holds). The runner metadata (ONNX ``metadata_props`` key
``erpose``) is stored as the IR's ``rt_info`` entry ``erpose`` (JSON), which
:class:`ERPoseONNX(..., backend='openvino') <erpose_mm.runtime.onnx_runner.ERPoseONNX>`
reads back.

OpenVINO is an optional dependency: ``pip install -e .[openvino]`` (or
``pip install openvino``). Torch-free (onnx, openvino).
"""
import os
import os.path as osp
import sys
from typing import Iterable, Optional

META_KEY = 'erpose'
INSTALL_HINT = 'pip install openvino (or pip install -e .[openvino])'


class OpenVINOMissing(ImportError):
    """OpenVINO is not installed; the message says how to install it."""


def import_openvino():
    """``import openvino``, or :class:`OpenVINOMissing` with one line naming the install."""
    try:
        import openvino
    except ImportError:
        raise OpenVINOMissing(f'the OpenVINO backend needs the openvino package: '
                              f'{INSTALL_HINT}') from None
    return openvino


def onnx_metadata(onnx_path: str) -> dict:
    """``metadata_props`` of an ONNX file as ``{key: value}``."""
    import onnx
    model = onnx.load(onnx_path, load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def export_openvino(onnx_path: str, out_xml: str, compress_to_fp16: bool = False) -> str:
    """Convert ``onnx_path`` to the OpenVINO IR ``out_xml`` (+ ``.bin``), metadata kept.

    Args:
        onnx_path: an ER-Pose ONNX export (fp32 or INT8 QDQ).
        out_xml: the ``.xml`` to write (the ``.bin`` goes next to it).
        compress_to_fp16: store float weights as float16 (half the file; the CPU plugin
            computes in float32 anyway). Default False: the IR holds the ONNX weights.

    Returns:
        ``out_xml``.

    Raises:
        FileNotFoundError: no ``onnx_path``. OpenVINOMissing: openvino not installed.
        ValueError: ``out_xml`` does not end with ``.xml``.
    """
    ov = import_openvino()
    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f'{onnx_path}: input model not found')
    if not out_xml.lower().endswith('.xml'):
        raise ValueError(f'{out_xml}: the OpenVINO IR file name must end with .xml')
    model = ov.convert_model(onnx_path)
    meta = onnx_metadata(onnx_path)
    if META_KEY in meta:
        model.set_rt_info(meta[META_KEY], [META_KEY])
    os.makedirs(osp.dirname(osp.abspath(out_xml)), exist_ok=True)
    ov.save_model(model, out_xml, compress_to_fp16=compress_to_fp16)
    return out_xml


def main(argv: Optional[Iterable[str]] = None) -> int:
    """``python -m erpose_mm.deploy.openvino_export MODEL.onnx OUT.xml``."""
    import argparse
    p = argparse.ArgumentParser(prog='python -m erpose_mm.deploy.openvino_export',
                                description='ER-Pose ONNX (fp32 or INT8 QDQ) -> OpenVINO IR, '
                                'runner metadata kept (rt_info "erpose").')
    p.add_argument('model', help='.onnx file')
    p.add_argument('out', help='.xml file to write (refused if it exists, unless --overwrite)')
    p.add_argument('--fp16-weights', action='store_true', help='store weights as float16')
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)
    try:
        if osp.exists(args.out) and not args.overwrite:
            raise ValueError(f'{args.out}: exists; not overwritten (--overwrite)')
        export_openvino(args.model, args.out, compress_to_fp16=args.fp16_weights)
    except (ImportError, OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
