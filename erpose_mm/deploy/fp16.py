"""fp16 conversion of an exported ER-Pose ONNX graph (for ONNX Runtime CUDA / TensorRT).

The network (backbone, neck, the SAH branch's convolutions: every node some ``Conv``
depends on, and the convolutions themselves) runs in float16. The decode after the last
prediction convolutions (grid + offset * stride, sigmoid, top-k, gathers, the keypoint box)
stays in float32, and so do the graph's input and outputs. Why the split:

* the decode turns offsets into pixel coordinates. float16 has 11 significant bits: a
  coordinate of 512-640 px would be rounded to a multiple of 0.5 px by the decode alone,
  and the scores to steps of 2^-11. In float32 the decode adds nothing to the error of the
  network;
* callers (``onnx_runner``, MMDeploy's ``End2EndModel``, ``tools/onnx_infer.py``) feed and
  read float32: the fp16 file is a drop-in replacement.

Why not onnxconverter-common's ``convert_float_to_float16`` (what MMDeploy's ONNX Runtime
backend calls for ``precision='fp16'``): version 1.16 with the decode in its
``node_block_list`` still stores every tensor *between* two blocked nodes as float16 (it
casts each blocked node's outputs back to float16), so scores and coordinates are rounded
anyway, and with ``keep_io_types=True`` it declares the outputs float16. Here the graph is
split once, at the tensors that leave the network, with one ``Cast`` to float32 each.
"""
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Set

import numpy as np

#: ONNX TensorProto element types
FLOAT, FLOAT16 = 1, 10
#: (op type, input index) of float inputs that ONNX requires to stay float32
FLOAT32_ONLY_INPUTS = {('Resize', 2), ('Upsample', 1)}


def network_node_indices(nodes: list) -> Set[int]:
    """Indices (into ``nodes``, a graph's node list) of the nodes that run in float16:
    every ``Conv`` and every node a ``Conv`` depends on. The rest (the decode) stays
    float32."""
    producer = {out: k for k, node in enumerate(nodes) for out in node.output}
    network: Set[int] = set()
    stack = [k for k, node in enumerate(nodes) if node.op_type == 'Conv']
    while stack:
        k = stack.pop()
        if k in network:
            continue
        network.add(k)
        stack.extend(producer[i] for i in nodes[k].input if i in producer)
    return network


def _to_half(arr: np.ndarray, min_positive_val: float, max_finite_val: float) -> np.ndarray:
    """float32 -> float16, clamping magnitudes into float16's range (tiny values to
    +-``min_positive_val`` instead of 0, huge ones to +-``max_finite_val``)."""
    out = arr.astype(np.float64)
    tiny = (np.abs(out) < min_positive_val) & (out != 0)
    out[tiny] = np.sign(out[tiny]) * min_positive_val
    out = np.clip(out, -max_finite_val, max_finite_val)
    return out.astype(np.float16)


def _topological(nodes: list, available: Set[str]) -> list:
    """``nodes`` reordered so that every node follows the producers of its inputs (stable:
    an already ordered list is returned unchanged)."""
    available = set(available) | {''}  # '' = an omitted optional input
    pending, ordered = list(nodes), []
    while pending:
        rest = []
        for node in pending:
            if all(i in available for i in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            made = {o for n in rest for o in n.output}
            stuck = next((n for n in rest if any(i not in available and i not in made
                                                 for i in n.input)), rest[0])
            raise ValueError(f'graph has a cycle or a missing input at node {stuck.name}')
        pending = rest
    return ordered


def convert_onnx_to_fp16(in_file: str, out_file: Optional[str] = None,
                         min_positive_val: float = 1e-7, max_finite_val: float = 1e4,
                         **unused) -> str:
    """Convert an ER-Pose ONNX file to a float16 network with a float32 decode, input and
    outputs.

    Args:
        in_file: float32 ``.onnx`` from ``erpose_mm.deploy.export.export_onnx`` or
            ``tools/deploy.py``: input ``input`` (B, 3, H, W); outputs ``dets`` (B, N, 5)
            and ``keypoints`` (B, N, K, 3).
        out_file: where to write (default: ``in_file``, replaced in place, as MMDeploy's
            ONNX Runtime backend does).
        min_positive_val, max_finite_val: weights are clamped into float16's range
            (onnxconverter-common's defaults, also MMDeploy's ``onnxruntime-fp16`` base).
        **unused: other keys of an MMDeploy ``common_config`` (``keep_io_types``,
            ``op_block_list``, ...) are accepted and ignored: input and outputs are always
            float32 and the split is fixed.

    Returns:
        ``out_file``. The ``erpose`` metadata gains ``"precision": "fp16"``.

    Raises:
        FileNotFoundError, ValueError: missing file, a graph without ``Conv``, or a file
        that is already fp16.
    """
    import onnx
    from onnx import helper, numpy_helper
    if not osp.isfile(in_file):
        raise FileNotFoundError(f'{in_file}: ONNX file not found')
    model = onnx.load(in_file)
    graph = model.graph
    meta = {p.key: p.value for p in model.metadata_props}
    info = json.loads(meta['erpose']) if 'erpose' in meta else None
    if (info or {}).get('precision') == 'fp16' or \
            any(t.data_type == FLOAT16 for t in graph.initializer):
        raise ValueError(f'{in_file}: already holds float16 weights (converted before?)')
    # one list of node objects for the whole conversion: membership is by id(), and
    # protobuf may hand out a new Python object on every access to graph.node
    nodes = list(graph.node)
    net_idx = network_node_indices(nodes)
    if not net_idx:
        raise ValueError(f'{in_file}: no Conv node; not an ER-Pose export')
    network = {id(nodes[k]) for k in net_idx}
    net_nodes = [n for k, n in enumerate(nodes) if k in net_idx]
    decode_nodes = [n for k, n in enumerate(nodes) if k not in net_idx]
    # element type of every tensor of the float32 graph (to cast only float tensors)
    inferred = onnx.shape_inference.infer_shapes(model)
    elem_type = {v.name: v.type.tensor_type.elem_type for v in
                 list(inferred.graph.value_info) + list(graph.input) + list(graph.output)}
    elem_type.update({t.name: t.data_type for t in graph.initializer})

    inits = {t.name: t for t in graph.initializer if t.data_type == FLOAT}
    readers: Dict[str, List] = {}
    for node in nodes:
        for idx, name in enumerate(node.input):
            readers.setdefault(name, []).append((node, idx))

    def keep32(node, idx) -> bool:
        return (node.op_type, idx) in FLOAT32_ONLY_INPUTS

    def half_tensor(tensor, name: str):
        arr = numpy_helper.to_array(tensor)
        return numpy_helper.from_array(_to_half(arr, min_positive_val, max_finite_val), name)

    def reads_half(node, idx) -> bool:
        return id(node) in network and not keep32(node, idx)

    # float32 weights and constants the network reads -> float16 (a float16 copy when
    # the decode or a float32-only input reads the same tensor)
    copies: Dict[str, str] = {}
    new_consts = []
    for name, tensor in inits.items():
        users = readers.get(name, [])
        half_users = [(n, i) for n, i in users if reads_half(n, i)]
        if not half_users:
            continue
        if len(half_users) == len(users):
            tensor.CopyFrom(half_tensor(tensor, name))
            continue
        copies[name] = f'{name}_fp16'
        graph.initializer.append(half_tensor(tensor, copies[name]))
        for n, i in half_users:
            n.input[i] = copies[name]
    for node in net_nodes:
        if node.op_type in ('Constant', 'ConstantOfShape'):
            attr = next((a for a in node.attribute if a.name == 'value'), None)
            if attr is None or attr.t.data_type != FLOAT:
                continue
            users = readers.get(node.output[0], [])
            half_users = [(n, i) for n, i in users if reads_half(n, i)]
            if not half_users:
                continue
            if len(half_users) == len(users):
                attr.t.CopyFrom(half_tensor(attr.t, attr.t.name))
                continue
            out16 = f'{node.output[0]}_fp16'
            new_consts.append(helper.make_node(
                node.op_type, list(node.input), [out16], name=f'{node.name}_fp16',
                value=half_tensor(attr.t, attr.t.name)))
            for n, i in half_users:
                n.input[i] = out16
        elif node.op_type == 'Cast':
            to = next(a for a in node.attribute if a.name == 'to')
            if to.i == FLOAT:
                to.i = FLOAT16

    # graph input -> one Cast to float16 in front of the network
    in_casts = []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != FLOAT or inp.name in inits:
            continue
        cast_out = f'{inp.name}_fp16'
        in_casts.append(helper.make_node('Cast', [inp.name], [cast_out], to=FLOAT16,
                                         name=f'{inp.name}_to_fp16'))
        for node, idx in readers.get(inp.name, []):
            if reads_half(node, idx):
                node.input[idx] = cast_out
    # every float tensor leaving the network -> one Cast to float32 for the decode
    out_casts = []
    for node in net_nodes:
        if node.op_type in ('Constant', 'ConstantOfShape'):
            continue  # constants read by the decode were left float32 above
        for name in node.output:
            users = [(n, i) for n, i in readers.get(name, []) if id(n) not in network]
            if not users or elem_type.get(name) != FLOAT:
                continue
            cast_out = f'{name}_fp32'
            out_casts.append(helper.make_node('Cast', [name], [cast_out], to=FLOAT,
                                              name=f'{name}_to_fp32'))
            for n, i in users:
                n.input[i] = cast_out
    # topological order: casts of the input first, network, boundary casts, decode
    ordered = _topological(in_casts + new_consts + net_nodes + out_casts + decode_nodes,
                           {i.name for i in graph.input} | {t.name for t in graph.initializer})
    del graph.node[:]
    graph.node.extend(ordered)
    del graph.value_info[:]  # intermediate types changed; ONNX Runtime re-infers them
    if info is not None:
        info['precision'] = 'fp16'
        for prop in model.metadata_props:
            if prop.key == 'erpose':
                prop.value = json.dumps(info)
    out_file = out_file or in_file
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    onnx.save(model, out_file)
    onnx.checker.check_model(out_file, full_check=True)
    return out_file


#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def _refuse(line: str) -> int:
    """Print ``line`` (one line, ``error: ...``) on stderr; returns :data:`REFUSAL_STATUS`."""
    print(line, file=sys.stderr)
    return REFUSAL_STATUS


def main(argv=None) -> int:
    """``python -m erpose_mm.deploy.fp16 IN.onnx OUT.onnx``: convert an fp32 export; 0, or
    :data:`REFUSAL_STATUS` with one ``error: ...`` line on stderr."""
    import argparse
    parser = argparse.ArgumentParser(
        prog='python -m erpose_mm.deploy.fp16',
        description='Convert an ER-Pose ONNX export (export_onnx / tools/deploy.py) to a '
        'float16 network with a float32 decode, input and outputs.')
    parser.add_argument('in_file', help='float32 .onnx')
    parser.add_argument('out_file', help='.onnx to write (refused if it exists)')
    args = parser.parse_args(argv)
    if osp.exists(args.out_file):
        return _refuse(f'error: {args.out_file}: exists; not overwritten')
    try:
        convert_onnx_to_fp16(args.in_file, args.out_file)
    except (FileNotFoundError, ValueError) as e:
        return _refuse(f'error: {e}')
    except Exception as e:  # not an ONNX file, ...
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        return _refuse(f'error: {args.in_file}: cannot convert ({first})')
    print(f'wrote {args.out_file} (fp16)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
