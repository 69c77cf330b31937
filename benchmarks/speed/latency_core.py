"""What every latency case shares: the ORT session options, thread settings, one timed
(model, runtime, threads) case, and the load-independent ORT profile / GFLOPs counts.

Imported by both sides of ``benchmarks/latency.py``: the project venv and the peers venv
(no project imports here; the INT8 / OpenVINO files are made by the project's torch-free
``erpose_mm/deploy/quantize.py`` and ``openvino_export.py``, loaded by path)."""
import contextlib
import json
import os.path as osp
import time
from typing import Callable, List, Optional

import numpy as np

from benchmarks.common.machine import log, timed_steps
from benchmarks.common.rpc import WorkerProxy

INPUT = 640
SWEEP_COUNTS = (1, 2, 5, 10, 20, 50, 100, 150, 200, 300)


def make_ort_session(path: str, threads: int, profile_prefix: Optional[str] = None):
    """The same ORT CPU session options for every model: sequential, ``threads`` intra-op
    threads, full graph optimisation."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])


#: runtimes of the ONNX cases: ONNX Runtime fp32 / INT8 (QDQ, erpose_mm/deploy/quantize.py)
#: and OpenVINO fp32 / INT8 (IR of the same files, CPU plugin)
ONNX_RUNTIMES = ('ort', 'ort-int8', 'ov', 'ov-int8')


class OVSession:
    """OpenVINO CPU behind the two calls the cases make of an ORT session: ``run(None,
    feed)`` and ``get_inputs()`` / ``get_outputs()`` (``.name``). ``threads`` inference
    threads, one stream, latency hint, float32 precision for what is not quantized (the
    CPU plugin picks bfloat16 on AMX CPUs otherwise)."""

    def __init__(self, path: str, threads: int):
        import openvino as ov
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(path), 'CPU', {
            'INFERENCE_NUM_THREADS': int(threads), 'NUM_STREAMS': 1,
            'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': 'f32'})
        self.request = self.compiled.create_infer_request()

        class _Port:
            def __init__(self, port):
                self.name = port.get_any_name()

        self._inputs = [_Port(p) for p in self.compiled.inputs]
        self._outputs = [_Port(p) for p in self.compiled.outputs]

    def get_inputs(self):
        """Input ports (``.name``)."""
        return self._inputs

    def get_outputs(self):
        """Output ports (``.name``)."""
        return self._outputs

    def run(self, names, feed):
        """All outputs in model order (the request's buffers: read them before the next run)."""
        res = self.request.infer(feed)
        return [res[p] for p in self.compiled.outputs]


def make_session(path: str, threads: int, runtime: str = 'ort'):
    """An ORT session (``ort``, ``ort-int8``) or an :class:`OVSession` (``ov``, ``ov-int8``)
    of ``path`` with ``threads`` threads."""
    if runtime.startswith('ov'):
        return OVSession(path, threads)
    return make_ort_session(path, threads)


def set_threads(n: int) -> None:
    """Torch intra-op threads and OpenCV threads for a block of iterations."""
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        import cv2
        cv2.setNumThreads(n)
    except ImportError:
        pass


class Case:
    """One (model, runtime, threads) measurement. ``step()`` runs one end-to-end iteration
    and returns ``dict(pre=, model=, post=, e2e=[, n_cand=, n_out=])`` in seconds."""

    def __init__(self, model: str, runtime: str, threads: int, step: Callable[[], dict],
                 info: Optional[dict] = None):
        self.model, self.runtime, self.threads = model, runtime, threads
        self.step = step
        self.info = info or {}

    @property
    def key(self) -> str:
        """``model|runtime|threads``: the case's id, also on the worker side."""
        return f'{self.model}|{self.runtime}|{self.threads}'

    def run(self, n: int) -> List[dict]:
        """``n`` timed iterations at this case's thread count, each with the load average."""
        set_threads(self.threads)
        return timed_steps(self.step, n)


def stage_step(pre: Callable, run: Callable, post: Callable,
               context: Callable = contextlib.nullcontext) -> Callable[[], dict]:
    """Wrap (pre, model run, post) into a timed step; ``context`` (e.g.
    ``torch.inference_mode``) is entered around all three."""
    def step():
        with context():
            c0, t0 = time.thread_time(), time.perf_counter()
            x, meta = pre()
            c1, t1 = time.thread_time(), time.perf_counter()
            outs = run(x)
            c2, t2 = time.thread_time(), time.perf_counter()
            n_cand, n_out = post(outs, meta)
            c3, t3 = time.thread_time(), time.perf_counter()
        return dict(pre=t1 - t0, model=t2 - t1, post=t3 - t2, e2e=t3 - t0, n_cand=n_cand,
                    n_out=n_out, model_cpu=c2 - c1, e2e_cpu=c3 - c0)
    return step


def ort_stage_step(pre: Callable, sess, feed_name: str, post: Callable) -> Callable[[], dict]:
    """Wrap (pre, ORT run, post) into a timed step."""
    return stage_step(pre, lambda x: sess.run(None, {feed_name: x}), post)


class RemoteCase(Case):
    """A case that lives in the peers worker; ``run`` asks the worker over RPC."""
    def __init__(self, proxy: WorkerProxy, d: dict):
        super().__init__(d['model'], d['runtime'], d['threads'], None, d['info'])
        self.proxy = proxy

    def run(self, n: int) -> List[dict]:
        """``n`` timed iterations at this case's thread count, each with the load average."""
        return self.proxy.call('run', key=self.key, n=n)


def quantized_variants(path: str, runtimes, calib: str, num_calib: int = 64,
                       keep_float=()) -> dict:
    """``{runtime: model file}`` for the ONNX runtimes in ``runtimes`` besides 'ort': the
    INT8 QDQ file (``erpose_mm/deploy/quantize.py``, calibrated on the images of the
    folder ``calib``) for 'ort-int8', OpenVINO IRs of the fp32 / INT8 files for 'ov' /
    'ov-int8' (skipped with a log line when openvino is not installed). The same code
    serves the peers venv (``latency_peers.py``), which has no project install: it imports
    ``erpose_mm`` from the repository root (its working directory), where the package
    registers nothing without MMPose and these modules need neither torch nor MMPose."""
    import importlib.util
    out = {}
    stem = osp.splitext(path)[0]
    int8 = None
    if any(r.endswith('int8') for r in runtimes):
        int8 = stem + '_int8.onnx'
        from erpose_mm.deploy.quantize import quantize_onnx
        quantize_onnx(path, int8, calib, num_calib=num_calib, keep_float=keep_float)
        if 'ort-int8' in runtimes:
            out['ort-int8'] = int8
    if any(r.startswith('ov') for r in runtimes):
        if importlib.util.find_spec('openvino') is None:
            log('[latency] openvino not installed: no OpenVINO rows (pip install openvino)')
            return out
        from erpose_mm.deploy import openvino_export as ox
        for rt, src, sub in (('ov', path, '_ov'), ('ov-int8', int8, '_ov_int8')):
            if rt not in runtimes or src is None:
                continue
            try:
                out[rt] = ox.export_openvino(src, stem + sub + osp.sep + 'model.xml')
            except Exception as e:  # e.g. OpenVINO refuses YOLO26's GatherElements shapes
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log(f'[latency] no {rt} row for {osp.basename(src)}: OpenVINO cannot convert '
                    f'it ({msg[:200]})')
    return out


# ----------------------------------------------------------------------------- ORT profiling
def ort_profile(path: str, threads: int, iters: int, prefix: str) -> dict:
    """Run ``iters`` ORT iterations with profiling; aggregate node time by op type and by
    the first component of the node name (backbone / neck / head ...)."""
    sess = make_ort_session(path, threads, profile_prefix=prefix)
    feed = sess.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    x = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    for _ in range(iters):
        sess.run(None, {feed: x})
    prof = sess.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    by_op, by_part, total = {}, {}, 0.0
    for e in events:
        if e.get('cat') != 'Node' or not e.get('name', '').endswith('_kernel_time'):
            continue
        dur = e['dur'] / 1000.0 / iters  # ms per iteration
        op = e.get('args', {}).get('op_name', '?')
        name = e['name'][:-len('_kernel_time')].lstrip('/')
        comps = [c for c in name.split('/') if c]
        if comps and comps[0] == 'model' and len(comps) > 2:
            comps = comps[1:]  # ER-Pose export wrapper: /model/backbone/...
        if len(comps) > 1:
            # ER-Pose / RTMO: backbone, neck, head/<branch>; Ultralytics: model.<layer>
            part = comps[0] + ('/' + comps[1] if comps[0] == 'head' else '')
        else:
            part = 'other (' + op + ')'
        by_op[op] = by_op.get(op, 0.0) + dur
        by_part[part] = by_part.get(part, 0.0) + dur
        total += dur
    top = lambda d: dict(sorted(d.items(), key=lambda kv: -kv[1])[:12])  # noqa: E731
    return dict(total_ms=total, by_op=top(by_op), by_part=top(by_part), file=prof)


def onnx_gflops(path: str) -> dict:
    """Load-independent cost: 2 x MACs of every Conv / Gemm / MatMul of an ONNX graph
    (shapes taken from one ORT run with all their outputs exposed), total and per top-level
    part of the node names (ER-Pose / RTMO: backbone, neck, head branches; Ultralytics:
    model.<layer>, the head being the last layer)."""
    import onnx
    import onnxruntime as ort
    m = onnx.load(path)
    g = m.graph
    inits = {i.name: list(i.dims) for i in g.initializer}
    nodes = [n for n in g.node if n.op_type in ('Conv', 'Gemm', 'MatMul')]
    have = {o.name for o in g.output}
    for n in nodes:
        for name in (n.output[0], n.input[1]):
            if name not in have and name not in inits:
                g.output.append(onnx.helper.make_empty_tensor_value_info(name))
                have.add(name)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=['CPUExecutionProvider'])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).uniform(
        0, 1, [d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
    parts, total = {}, 0.0
    for n in nodes:
        out = outs[n.output[0]].shape
        w = inits.get(n.input[1])
        if w is None and n.input[1] in outs:
            w = list(outs[n.input[1]].shape)
        if not w or len(w) < 2:
            continue
        if n.op_type == 'Conv':
            macs = np.prod(out) * np.prod(w[1:])
        elif n.op_type == 'Gemm':
            trans_b = any(a.name == 'transB' and a.i for a in n.attribute)
            macs = np.prod(out) * w[1 if trans_b else 0]
        else:
            macs = np.prod(out) * w[-2]
        comps = [c for c in n.name.split('/') if c]
        if comps and comps[0] == 'model' and len(comps) > 2:
            comps = comps[1:]
        part = comps[0] if len(comps) > 1 else 'other'
        parts[part] = parts.get(part, 0.0) + 2e-9 * float(macs)
        total += 2e-9 * float(macs)
    return dict(total=total, parts=dict(sorted(parts.items(), key=lambda kv: -kv[1])))
