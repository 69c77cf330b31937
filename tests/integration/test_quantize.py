"""INT8 static quantization (``erpose_mm/deploy/quantize.py``, ``tools/quantize_onnx.py``)
and the OpenVINO backend (``erpose_mm/deploy/openvino_export.py``, ``ERPoseONNX(...,
backend='openvino')``, ``tools/onnx_infer.py MODEL.xml``).

One tiny model for the whole file: ER-Pose-n with random weights calibrated on the demo
images (``make_random_checkpoint``: unsaturated, distinct scores), exported at 128x128.
"""
import builtins
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from bad_inputs import run_onnx_tool_without_torch
from erpose_mm.deploy import openvino_export as ox
from erpose_mm.deploy import quantize as qz
from erpose_mm.deploy.export import export_onnx
from erpose_mm.runtime import cli as cli_mod
from erpose_mm.runtime import onnx_runner as runner_mod
from erpose_mm.testing import make_random_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime.quantization')
CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
SIZE = 128
HAS_OPENVINO = importlib.util.find_spec('openvino') is not None
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO,
                                    reason='openvino is not installed (pip install -e .[openvino])')



@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('quantize')


@pytest.fixture(scope='module')
def fp32_onnx(work, demo_images):
    ckpt = make_random_checkpoint(CFG_N, str(work / 'n.pth'), seed=0,
                                  calib_images=demo_images.imgs, calib_sizes=(SIZE, ))
    return export_onnx(CFG_N, ckpt, str(work / 'n.onnx'), input_size=(SIZE, SIZE),
                       score_thr=0.0, max_per_img=20)


@pytest.fixture(scope='module')
def int8_onnx(work, fp32_onnx, demo_images):
    out = str(work / 'n_int8.onnx')
    p = subprocess.run([sys.executable, osp.join(REPO, 'tools/quantize_onnx.py'), fp32_onnx,
                        out, '--calib', demo_images.dir, '--num-calib', '8'],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def head_outputs(model_path: str, x: np.ndarray) -> dict:
    """``{tensor: value}`` of the tensors where the network hands over to the decode (the
    outputs of the last prediction convolutions) on a fixed input, by ONNX Runtime."""
    import onnxruntime as ort
    model = onnx.load(model_path)
    net = set(qz.network_node_names(model))
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    names = sorted({o for n in model.graph.node if n.op_type == 'Conv' for o in n.output
                    if any(c.name not in net for c in consumers.get(o, []))})
    for name in names:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    outs = sess.run(names, {sess.get_inputs()[0].name: x})
    return dict(zip(names, outs))


@pytest.fixture(scope='module')
def fixed_input(fp32_onnx, demo_images) -> np.ndarray:
    """The demo photo as the runner feeds it: (1, 3, SIZE, SIZE). It is one of the
    calibration images: the tests check the quantization, not how calibration ranges carry
    over to other images."""
    runner = runner_mod.ERPoseONNX(fp32_onnx)
    return runner.preprocess(runner_mod.read_image(demo_images.img))[0]


# ----------------------------------------------------------------------------- INT8
def test_int8_head_outputs_close_to_fp32(fp32_onnx, int8_onnx, fixed_input):
    """The logits / offsets the network hands to the decode agree with fp32.

    Tolerance: uint8 activations carry 8 bits over each tensor's calibrated range, and each
    of the ~60 quantized layers adds its rounding noise. A random-weight network is the
    worst case for that (no trained structure; the trained ER-Pose-n loses <= 0.003 AP, see
    docs/deploy.md): on this model the RMS error is 8-23% of each output's std, correlation
    >= 0.98. We require <= 35% and >= 0.95; a broken quantization (wrong scale or channel
    axis, activations clipped by ranges that do not fit the input) gives 80-100% and
    correlations of 0.45-0.9."""
    ref, q = head_outputs(fp32_onnx, fixed_input), head_outputs(int8_onnx, fixed_input)
    assert ref and set(ref) == set(q)
    for name, a in ref.items():
        b = q[name]
        rel = np.sqrt(np.mean((a - b) ** 2)) / (a.std() + 1e-6)
        corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert rel <= 0.35 and corr >= 0.95, (name, rel, corr)


def test_int8_outputs_and_metadata(fp32_onnx, int8_onnx, fixed_input):
    """Same inputs / outputs / metadata; each of the three best fp32 people on the fixed
    input has an INT8 row within 4 px mean keypoint distance (an eighth of a stride-32
    cell on the 128 px input) and 0.1 in score (the row order may change among close
    scores, so rows are matched, not compared by index)."""
    a = runner_mod.ERPoseONNX(fp32_onnx, score_thr=0.0)
    b = runner_mod.ERPoseONNX(int8_onnx, score_thr=0.0)
    assert [i.name for i in a.session.get_inputs()] == [i.name for i in b.session.get_inputs()]
    assert a.output_names == b.output_names
    assert b.has_metadata and b.input_size == a.input_size
    meta_b = dict(b.meta)
    assert meta_b.pop('quantization')['type'] == 'int8-qdq'
    assert meta_b == a.meta
    da, ka = a.forward(fixed_input)
    db, kb = b.forward(fixed_input)
    assert da.shape == db.shape and ka.shape == kb.shape
    assert_best_people_match(da, ka, db, kb)


def assert_best_people_match(da, ka, db, kb, n: int = 3, px: float = 4.0,
                             score: float = 0.1) -> None:
    """Each of the ``n`` best rows of (da, ka) has a row of (db, kb) within ``px`` mean
    keypoint distance and ``score`` in score."""
    for i in range(n):
        d = np.abs(kb[0, :, :, :2] - ka[0, i, :, :2]).max(-1).mean(-1)  # (N,) mean kpt dist
        j = int(d.argmin())
        assert d[j] <= px, (i, d[j])
        assert abs(db[0, j, 4] - da[0, i, 4]) <= score, (i, db[0, j, 4], da[0, i, 4])


def test_decode_stays_float(int8_onnx):
    """No QuantizeLinear / DequantizeLinear feeds TopK or any other decode node; the network
    convolutions are quantized."""
    m = onnx.load(int8_onnx)
    summary = qz.quantized_node_summary(m)
    assert summary['qdq'] > 50
    assert summary['decode_fed_by_dq'] == []
    producer = {o: n for n in m.graph.node for o in n.output}
    topk = [n for n in m.graph.node if n.op_type == 'TopK']
    assert topk
    # everything the TopK reads, back to the last convolutions, is float (no QDQ on the way)
    stack, seen = [i for n in topk for i in n.input], set()
    while stack:
        t = stack.pop()
        n = producer.get(t)
        if n is None or n.name in seen:
            continue
        seen.add(n.name)
        assert n.op_type not in ('QuantizeLinear', 'DequantizeLinear'), n.name
        if n.op_type != 'Conv':
            stack.extend(n.input)
    convs = [n for n in m.graph.node if n.op_type == 'Conv']
    assert all(producer[n.input[0]].op_type == 'DequantizeLinear' for n in convs)
    assert all(producer[n.input[1]].op_type == 'DequantizeLinear' for n in convs)


def test_export_int8_cli(work, demo_images):
    """``python -m erpose_mm.deploy.export ... --int8 --calib DIR`` writes an INT8 model the
    runner loads; ``--int8`` without ``--calib`` is one line."""
    ckpt = str(work / 'n.pth')  # written by the fp32_onnx fixture's make_random_checkpoint
    if not osp.isfile(ckpt):
        make_random_checkpoint(CFG_N, ckpt, seed=0)
    out = str(work / 'cli_int8.onnx')
    cmd = [sys.executable, '-m', 'erpose_mm.deploy.export', CFG_N, ckpt, out, '--input-size',
           str(SIZE)]
    p = subprocess.run(cmd + ['--int8'], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith('error: --int8')
    assert not osp.exists(out)
    p = subprocess.run(cmd + ['--int8', '--calib', demo_images.dir, '--num-calib', '4'],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    m = onnx.load(out)
    assert sum(n.op_type == 'QuantizeLinear' for n in m.graph.node) > 50
    assert runner_mod.ERPoseONNX(out).meta['quantization']['calib_images'] <= 4


def _tool_error(args) -> str:
    p = subprocess.run([sys.executable, osp.join(REPO, 'tools/quantize_onnx.py')] + args,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), p.stderr[-2000:]
    return lines[0]


def test_bad_calibration_input_one_line(work, fp32_onnx):
    """Missing / empty calibration folder, unreadable image, missing model: one line."""
    out = str(work / 'bad.onnx')
    assert 'not found' in _tool_error([fp32_onnx, out, '--calib', str(work / 'nope')])
    empty = work / 'empty'
    empty.mkdir()
    assert 'no images' in _tool_error([fp32_onnx, out, '--calib', str(empty)])
    broken = work / 'broken'
    broken.mkdir()
    (broken / 'a.jpg').write_bytes(b'not a jpeg')
    assert 'a.jpg' in _tool_error([fp32_onnx, out, '--calib', str(broken)])
    assert 'input model not found' in _tool_error([str(work / 'none.onnx'), out,
                                                   '--calib', str(broken)])
    assert not osp.exists(out)


def test_calibration_from_coco_json(tmp_path, demo_images):
    """A COCO json's images are found next to it (its folder, its parent's sub-folders)."""
    import shutil
    (tmp_path / 'images').mkdir()
    (tmp_path / 'annotations').mkdir()
    name = osp.basename(demo_images.img)
    shutil.copy(demo_images.img, tmp_path / 'images' / name)
    js = tmp_path / 'annotations' / 'person_keypoints.json'
    js.write_text(json.dumps(dict(images=[dict(id=1, file_name=name)])))
    assert qz.list_calibration_images(str(js)) == [str(tmp_path / 'images' / name)]
    js.write_text(json.dumps(dict(images=[])))
    with pytest.raises(qz.QuantizeError, match='no images'):
        qz.list_calibration_images(str(js))


# ----------------------------------------------------------------------------- OpenVINO
@pytest.fixture(scope='module')
def ov_xml(work, fp32_onnx):
    if not HAS_OPENVINO:
        pytest.skip('openvino is not installed (pip install -e .[openvino])')
    return ox.export_openvino(fp32_onnx, str(work / 'ov' / 'n.xml'))


@needs_openvino
def test_openvino_parity_with_ort(fp32_onnx, ov_xml, fixed_input):
    """The fp32 IR (metadata from its rt_info, float32 inference) matches ONNX Runtime on a
    fixed input: 1e-2 px / 1e-4 score (float32 convolutions summed in another order)."""
    a = runner_mod.ERPoseONNX(fp32_onnx, score_thr=0.0)
    b = runner_mod.ERPoseONNX(ov_xml, score_thr=0.0, num_threads=1)
    assert b.backend == 'openvino' and b.has_metadata and b.meta == a.meta
    x = fixed_input
    da, ka = a.forward(x)
    db, kb = b.forward(x)
    np.testing.assert_allclose(db[..., 4], da[..., 4], atol=1e-4)
    np.testing.assert_allclose(db[..., :4], da[..., :4], atol=1e-2)
    np.testing.assert_allclose(kb, ka, atol=1e-2)
    # the same ONNX file through OpenVINO (metadata_props) gives the same outputs
    c = runner_mod.ERPoseONNX(fp32_onnx, score_thr=0.0, backend='openvino')
    assert c.meta == a.meta
    np.testing.assert_allclose(c.forward(x)[1], ka, atol=1e-2)


@needs_openvino
def test_openvino_int8_ir(work, fp32_onnx, int8_onnx, fixed_input):
    """The INT8 QDQ file converts to an IR (metadata kept) whose best people match fp32 as
    the INT8 ONNX Runtime model's do (OpenVINO rounds and fuses the quantized network its
    own way, so it is held to fp32 with the same tolerance, not to ONNX Runtime INT8)."""
    xml = ox.export_openvino(int8_onnx, str(work / 'ov' / 'n_int8.xml'))
    b = runner_mod.ERPoseONNX(xml, score_thr=0.0)
    assert b.meta == runner_mod.ERPoseONNX(int8_onnx).meta
    da, ka = runner_mod.ERPoseONNX(fp32_onnx, score_thr=0.0).forward(fixed_input)
    db, kb = b.forward(fixed_input)
    assert_best_people_match(da, ka, db, kb)
    # the CPU plugin runs every convolution in 8 bits
    ops = b.session.compiled.get_runtime_model().get_ops()
    conv_prec = {op.get_rt_info()['runtimePrecision'].astype(str) for op in ops
                 if op.get_rt_info()['layerType'].astype(str) == 'Convolution'}
    assert conv_prec and conv_prec <= {'u8', 'i8'}, conv_prec


@needs_openvino
def test_onnx_infer_openvino_cli(work, fp32_onnx, ov_xml, demo_images):
    """``tools/onnx_infer.py MODEL.xml`` (auto backend) writes the JSON and drawing of the
    ONNX Runtime run, torch-free."""
    out_ort, out_ov = work / 'cli_ort', work / 'cli_ov'
    run_onnx_tool_without_torch([fp32_onnx, demo_images.img, '--out-dir', str(out_ort),
                                 '--score-thr', '0.05'])
    run_onnx_tool_without_torch([ov_xml, demo_images.img, '--out-dir', str(out_ov),
                                 '--score-thr', '0.05', '--threads', '1'])
    name = osp.basename(demo_images.img)
    pa = json.load(open(out_ort / 'predictions' / f'{name}.json'))
    pb = json.load(open(out_ov / 'predictions' / f'{name}.json'))
    assert len(pa) == len(pb) > 0
    for p, q in zip(pa, pb):
        np.testing.assert_allclose(q['keypoints'], p['keypoints'], atol=0.1)
        np.testing.assert_allclose(q['bbox_score'], p['bbox_score'], atol=1e-4)
    assert (out_ov / 'visualizations' / name).is_file()


def _hide_openvino(monkeypatch):
    real = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == 'openvino' or name.startswith('openvino.'):
            raise ImportError(f'No module named {name!r}')
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake_import)
    for mod in [m for m in sys.modules if m == 'openvino' or m.startswith('openvino.')]:
        monkeypatch.delitem(sys.modules, mod)


def test_openvino_missing_one_line(work, fp32_onnx, monkeypatch, capsys):
    """Without openvino: the runner, the CLI and the converter say in one line how to
    install it."""
    xml = work / 'fake.xml'
    xml.write_text('<net/>')
    _hide_openvino(monkeypatch)
    with pytest.raises(runner_mod.InputError, match=r'pip install openvino'):
        runner_mod.ERPoseONNX(str(xml))
    rc = cli_mod.onnx_main([str(xml), str(work), '--out-dir', str(work / 'cli_missing')])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'pip install openvino' in err[0], err
    with pytest.raises(ox.OpenVINOMissing, match=r'pip install openvino'):
        ox.export_openvino(fp32_onnx, str(work / 'x.xml'))
    assert ox.main([fp32_onnx, str(work / 'x.xml')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install openvino' in err[0]
