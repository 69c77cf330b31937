"""INT8 static quantization of an exported ER-Pose ONNX model (ONNX Runtime, QDQ format).

    python tools/quantize_onnx.py FP32.onnx OUT.onnx --calib IMG_DIR_OR_COCO_JSON [--num-calib 64]

Steps (:func:`quantize_onnx`):

1. ONNX Runtime's pre-processing (``quant_pre_process``: symbolic shape inference and
   graph optimisation) of the fp32 model;
2. calibration over images letterboxed exactly as the runner feeds the model
   (:meth:`ERPoseONNX.preprocess <erpose_mm.runtime.onnx_runner.ERPoseONNX.preprocess>`,
   the model's own metadata: size, padding, mean / std);
3. ``quantize_static`` in QDQ format, int8 per-channel weights, uint8 activations, **only
   the convolutional network**: every ``Conv`` and every node a ``Conv`` depends on (the
   split of :func:`erpose_mm.deploy.fp16.network_node_indices`). The decode after the last
   prediction convolutions (sigmoid, offset x stride + cell, top-k, gathers, the keypoint
   box, the output concats) is in ``nodes_to_exclude`` and stays float32, and so do the
   outputs of those last convolutions (logits and offsets reach the decode unrounded);
4. the ``erpose`` metadata (and every other ``metadata_props`` entry) is copied, so
   :class:`ERPoseONNX` and ``tools/onnx_infer.py`` run the INT8 file like the fp32 one.

The module is torch-free (numpy, onnx, onnxruntime, cv2; the runner of
:mod:`erpose_mm.runtime`): ``tools/quantize_onnx.py`` imports it with
``ERPOSE_MM_RUNTIME_ONLY=1``, so no torch is loaded for the package. (ONNX Runtime's own ``onnxruntime.tools``
package, which ``quant_pre_process`` uses, imports torch when torch is installed; without
torch everything here works the same.)
"""
import json
import os
import os.path as osp
import random
import sys
import tempfile
from typing import Callable, Iterable, List, Optional, Sequence, Union

import numpy as np

from ..runtime.image_io import IMAGE_EXTS, InputError, read_image
from ..runtime.onnx_runner import ERPoseONNX

#: op types whose inputs / outputs the INT8 network quantizes (the ER-Pose, YOLO body ops)
BODY_OP_TYPES = ('Conv', 'Mul', 'Add', 'Sigmoid', 'Concat', 'MaxPool', 'Resize', 'Split',
                 'Slice')


class QuantizeError(InputError):
    """Bad quantization input (model, calibration images); the message is one line."""


# ----------------------------------------------------------------------------- graph split
def network_node_names(model, keep_float: Sequence[str] = ()) -> List[str]:
    """Names of the nodes that make up the convolutional network of ``model`` (an
    ``onnx.ModelProto``): every ``Conv`` and every node a ``Conv`` depends on, as
    :func:`erpose_mm.deploy.fp16.network_node_indices`. A ``Conv`` whose name contains one
    of ``keep_float`` is not a seed (e.g. ``'/dfl/'``: Ultralytics' fixed DFL convolution
    belongs to the decode); it stays float with what only it depends on."""
    nodes = list(model.graph.node)
    seeds = [k for k, n in enumerate(nodes) if n.op_type == 'Conv' and
             not any(p in n.name for p in keep_float)]
    producer = {out: k for k, node in enumerate(nodes) for out in node.output}
    net, stack = set(), seeds
    while stack:
        k = stack.pop()
        if k in net:
            continue
        net.add(k)
        stack.extend(producer[i] for i in nodes[k].input if i in producer)
    return [nodes[k].name for k in sorted(net)]


def decode_node_names(model, keep_float: Sequence[str] = ()) -> List[str]:
    """Names of the nodes outside :func:`network_node_names`: the decode (float32)."""
    net = set(network_node_names(model, keep_float))
    return [n.name for n in model.graph.node if n.name not in net]


#: per-channel QuantizeLinear / DequantizeLinear (their ``axis``) need opset 13
MIN_OPSET = 13


def _at_least_opset(model, opset: int):
    """``model`` converted to the default-domain ``opset`` when it is older (the exports
    default to opset 11, MMDeploy's)."""
    import onnx
    from onnx import version_converter
    current = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), opset)
    if current >= opset:
        return model
    return version_converter.convert_version(model, opset)


def _name_nodes(model) -> None:
    """Give every unnamed node a unique name (``nodes_to_exclude`` works by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for k, n in enumerate(model.graph.node):
        if not n.name:
            name = f'{n.op_type}_{k}'
            while name in used:
                name += '_'
            n.name = name
            used.add(name)


# ----------------------------------------------------------------------------- calibration
def list_calibration_images(source: Union[str, Sequence[str]],
                            image_root: Optional[str] = None) -> List[str]:
    """Image paths for calibration from a folder (its images, sorted), a COCO json (its
    ``images[].file_name`` under ``image_root``; default: the first of the json's folder,
    its parent and the parent's sub-folders that holds the first image) or a list of paths.

    Raises:
        QuantizeError: missing folder / json / image, a folder or json without images.
    """
    if not isinstance(source, (str, os.PathLike)):
        paths = [str(p) for p in source]
        if not paths:
            raise QuantizeError('no calibration images given')
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise QuantizeError(f'{missing[0]}: calibration image not found')
        return paths
    source = str(source)
    if osp.isdir(source):
        paths = sorted(osp.join(source, f) for f in os.listdir(source)
                       if osp.splitext(f)[1].lower() in IMAGE_EXTS)
        if not paths:
            raise QuantizeError(f'{source}: calibration folder has no images '
                                f'({", ".join(sorted(IMAGE_EXTS))})')
        return paths
    if not osp.exists(source):
        raise QuantizeError(f'{source}: calibration folder / COCO json not found')
    if not source.lower().endswith('.json'):
        raise QuantizeError(f'{source}: --calib takes an image folder or a COCO json')
    try:
        with open(source) as f:
            names = [im['file_name'] for im in json.load(f)['images']]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise QuantizeError(f'{source}: not a COCO json with images[].file_name '
                            f'({type(e).__name__})') from None
    if not names:
        raise QuantizeError(f'{source}: COCO json has no images')
    if image_root is None:
        here = osp.dirname(osp.abspath(source))
        up = osp.dirname(here)
        roots = [here, up] + sorted(osp.join(up, d) for d in os.listdir(up)
                                    if osp.isdir(osp.join(up, d)))
        image_root = next((r for r in roots if osp.isfile(osp.join(r, names[0]))), None)
        if image_root is None:
            raise QuantizeError(f'{source}: image {names[0]} not found next to the json; '
                                'give the image folder (--calib-root)')
    paths = [osp.join(image_root, n) for n in names]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise QuantizeError(f'{missing[0]}: calibration image of {source} not found')
    return paths


class ImageCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over image files: one
    preprocessed image per ``get_next()`` (``{input_name: (1, 3, H, W) float32}``).

    Args:
        paths: image files.
        preprocess: BGR uint8 image -> (1, 3, H, W) float32, e.g.
            ``ERPoseONNX(model).preprocess`` (only its first return value is used).
        input_name: the model's input name.
    """

    def __init__(self, paths: Sequence[str], preprocess: Callable, input_name: str) -> None:
        self.paths = list(paths)
        self.preprocess = preprocess
        self.input_name = input_name
        self._it = iter(self.paths)

    def get_next(self) -> Optional[dict]:
        """The next image's input feed, None at the end."""
        path = next(self._it, None)
        if path is None:
            return None
        try:
            img = read_image(path)
        except InputError as e:
            raise QuantizeError(f'calibration: {e}') from None
        x = self.preprocess(img)
        x = x[0] if isinstance(x, tuple) else x
        return {self.input_name: np.ascontiguousarray(x, np.float32)}

    def rewind(self) -> None:
        """Start over (ONNX Runtime's calibrators call it between passes)."""
        self._it = iter(self.paths)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return len(self.paths)


def _as_reader_class():
    """:class:`ImageCalibrationReader` as a subclass of ORT's ``CalibrationDataReader``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(ImageCalibrationReader, CalibrationDataReader):
        pass

    return Reader


# ----------------------------------------------------------------------------- quantization
def quantize_onnx(fp32_onnx: str, out_onnx: str,
                  calib_images: Union[str, Sequence[str]], num_calib: int = 64,
                  per_channel: bool = True,
                  op_types_to_quantize: Optional[Sequence[str]] = BODY_OP_TYPES,
                  keep_float: Sequence[str] = (), calibrate_method: str = 'minmax',
                  preprocess: Optional[Callable] = None, image_root: Optional[str] = None,
                  seed: int = 0, reduce_range: bool = False) -> str:
    """Quantize ``fp32_onnx`` to an INT8 QDQ model ``out_onnx`` (see the module docstring).

    Args:
        fp32_onnx: the float32 ONNX model (``export_onnx`` / ``tools/deploy.py``; any model
            with a ``(1, 3, H, W)`` float input works with ``preprocess``).
        out_onnx: the INT8 file to write (same inputs, outputs and metadata).
        calib_images: an image folder, a COCO json or a list of image paths.
        num_calib: at most this many calibration images (an evenly spread, seeded sample
            of the list when it is longer).
        per_channel: per-output-channel weight scales (the default: the depthwise / 1x1
            convolutions of small models have very different channel ranges).
        op_types_to_quantize: op types quantized inside the network (default
            :data:`BODY_OP_TYPES`; ``('Conv',)``: only the convolutions' inputs and weights).
        keep_float: node-name substrings of nodes that stay float32 besides the decode, e.g.
            ``['/backbone/stem/']`` or the head's last convolutions; a ``Conv`` among them
            is also no seed of the network (:func:`network_node_names`).
        calibrate_method: 'minmax' (default), 'entropy' or 'percentile'.
        preprocess: BGR image -> input array (default: ``ERPoseONNX(fp32_onnx).preprocess``,
            the runner's letterbox from the model's metadata).
        image_root: image folder of a COCO json ``calib_images``.
        seed: sampling seed of the calibration subset.
        reduce_range: 7-bit weights (for CPUs without VNNI; see ONNX Runtime's docs).

    Returns:
        ``out_onnx``.

    Raises:
        QuantizeError: missing model / calibration folder, no images, unreadable image.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if not osp.isfile(fp32_onnx):
        raise QuantizeError(f'{fp32_onnx}: input model not found')
    if int(num_calib) < 1:
        raise QuantizeError(f'num_calib must be >= 1, got {num_calib}')
    methods = dict(minmax=CalibrationMethod.MinMax, entropy=CalibrationMethod.Entropy,
                   percentile=CalibrationMethod.Percentile)
    if calibrate_method not in methods:
        raise QuantizeError(f'calibrate_method {calibrate_method!r}: expected one of '
                            f'{", ".join(methods)}')
    paths = list_calibration_images(calib_images, image_root)
    if len(paths) > num_calib:
        paths = sorted(random.Random(seed).sample(paths, int(num_calib)))
    try:
        fp32 = onnx.load(fp32_onnx)
    except Exception as e:
        raise QuantizeError(f'{fp32_onnx}: cannot load ONNX model ({type(e).__name__})') from None
    if preprocess is None:
        preprocess = ERPoseONNX(fp32_onnx, num_threads=1).preprocess
    input_name = fp32.graph.input[0].name
    out_dir = osp.dirname(osp.abspath(out_onnx))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix='.quant_') as tmp:
        pre = osp.join(tmp, 'pre.onnx')
        try:
            quant_pre_process(fp32_onnx, pre, skip_symbolic_shape=False)
        except Exception:  # ORT's symbolic shape inference fails on some graphs (e.g.
            # YOLO26's TopK of a computed shape): ONNX shape inference alone is enough there
            quant_pre_process(fp32_onnx, pre, skip_symbolic_shape=True)
        model = onnx.load(pre)
        model = _at_least_opset(model, MIN_OPSET)
        _name_nodes(model)
        onnx.save(model, pre)
        exclude = decode_node_names(model, keep_float)
        exclude += [n.name for n in model.graph.node
                    if any(p in n.name for p in keep_float) and n.name not in exclude]
        reader = _as_reader_class()(paths, preprocess, input_name)
        quantize_static(
            pre, out_onnx, reader, quant_format=QuantFormat.QDQ,
            op_types_to_quantize=None if op_types_to_quantize is None
            else list(op_types_to_quantize),
            per_channel=per_channel, reduce_range=reduce_range,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude, calibrate_method=methods[calibrate_method],
            # a Conv's output is quantized only where a quantized node reads it: the last
            # prediction convolutions hand float32 logits / offsets to the decode
            extra_options=dict(ActivationSymmetric=False, WeightSymmetric=True,
                               OpTypesToExcludeOutputQuantization=['Conv']))
    _copy_metadata(fp32, out_onnx, dict(quantization=dict(
        type='int8-qdq', calib_images=len(paths), per_channel=bool(per_channel),
        calibrate_method=calibrate_method, keep_float=list(keep_float),
        op_types=None if op_types_to_quantize is None else list(op_types_to_quantize))))
    return out_onnx


def _copy_metadata(src_model, out_onnx: str, extra: dict) -> None:
    """Copy ``metadata_props`` of ``src_model`` onto ``out_onnx``; merge ``extra`` into the
    ``erpose`` JSON entry (when there is one)."""
    import onnx
    out = onnx.load(out_onnx)
    del out.metadata_props[:]
    for p in src_model.metadata_props:
        entry = out.metadata_props.add()
        entry.key, entry.value = p.key, p.value
        if p.key == 'erpose':
            meta = json.loads(p.value)
            meta.update(extra)
            entry.value = json.dumps(meta)
    onnx.save(out, out_onnx)


def quantized_node_summary(model) -> dict:
    """``{'qdq': number of QuantizeLinear nodes, 'decode_fed_by_dq': names of decode nodes
    that read a DequantizeLinear output}`` of a quantized ``onnx.ModelProto`` (the second
    is empty when the decode stays float)."""
    nodes = list(model.graph.node)
    dq_out = {o for n in nodes if n.op_type == 'DequantizeLinear' for o in n.output}
    qdq_ops = ('QuantizeLinear', 'DequantizeLinear')
    net = set(network_node_names(model))
    fed = [n.name for n in nodes if n.name not in net and n.op_type not in qdq_ops
           and any(i in dq_out for i in n.input)]
    return dict(qdq=sum(n.op_type == 'QuantizeLinear' for n in nodes), decode_fed_by_dq=fed)


# ----------------------------------------------------------------------------- CLI
def parse_args(argv: Optional[Iterable[str]] = None):
    """Command line of ``tools/quantize_onnx.py``."""
    import argparse
    p = argparse.ArgumentParser(
        prog='tools/quantize_onnx.py',
        description='INT8 static quantization (ONNX Runtime, QDQ, per-channel weights) of an '
        'exported ER-Pose model; the decode stays float32.')
    p.add_argument('model', help='float32 .onnx (export_onnx / tools/deploy.py)')
    p.add_argument('out', help='INT8 .onnx to write (refused if it exists, unless --overwrite)')
    p.add_argument('--calib', required=True,
                   help='calibration images: a folder or a COCO json (images[].file_name)')
    p.add_argument('--calib-root', default=None, help='image folder of a COCO json --calib')
    p.add_argument('--num-calib', type=int, default=64,
                   help='calibration images (a seeded sample when there are more; default 64)')
    p.add_argument('--per-tensor', action='store_true',
                   help='one scale per weight tensor (default: per output channel)')
    p.add_argument('--method', default='minmax', choices=('minmax', 'entropy', 'percentile'))
    p.add_argument('--conv-only', action='store_true',
                   help="quantize only the convolutions' inputs and weights")
    p.add_argument('--keep-float', nargs='*', default=[],
                   help='node-name substrings that stay float32 (e.g. /backbone/stem/)')
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    """``tools/quantize_onnx.py``: exit status 2 with one ``error:`` line on bad input."""
    args = parse_args(argv)
    try:
        if osp.exists(args.out) and not args.overwrite:
            raise QuantizeError(f'{args.out}: exists; not overwritten (--overwrite)')
        quantize_onnx(args.model, args.out, args.calib, num_calib=args.num_calib,
                      per_channel=not args.per_tensor,
                      op_types_to_quantize=('Conv', ) if args.conv_only else BODY_OP_TYPES,
                      keep_float=args.keep_float, calibrate_method=args.method,
                      image_root=args.calib_root)
    except (InputError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {args.out} (int8 QDQ)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
