"""``python -m erpose_mm.deploy.export`` and ``python -m erpose_mm.deploy.fp16`` refuse as the
tools do: one ``error: ...`` line on stderr, exit status 2, nothing written."""
import os.path as osp
import subprocess
import sys

import pytest

from erpose_mm.deploy import export as export_mod

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')


def _refused(main, argv, capsys) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and not cap.out, cap
    return lines[0]


def test_export_refusals(tmp_path, capsys):
    out = str(tmp_path / 'm.onnx')
    assert _refused(export_mod.main, [CFG, 'none', out, '--input-size', '256', '256', '1'],
                    capsys) == 'error: --input-size takes W or W H, got [256, 256, 1]'
    assert 'multiples of 32' in _refused(export_mod.main,
                                         [CFG, 'none', out, '--input-size', '100'], capsys)
    assert _refused(export_mod.main, [CFG, 'none', out, '--int8'], capsys) == \
        'error: --int8 needs --calib IMG_DIR_OR_COCO_JSON and excludes --fp16'
    missing = str(tmp_path / 'nope.py')
    assert _refused(export_mod.main, [missing, 'none', out], capsys) == \
        f'error: {missing}: model config not found'
    assert _refused(export_mod.main, [CFG, str(tmp_path / 'n.pth'), out], capsys) == \
        f'error: {tmp_path / "n.pth"}: checkpoint not found'
    assert not osp.exists(out)
    open(out, 'w').close()
    assert _refused(export_mod.main, [CFG, 'none', out], capsys) == \
        f'error: {out}: exists; not overwritten'


def test_fp16_refusals(tmp_path, capsys):
    pytest.importorskip('onnx')
    from erpose_mm.deploy import fp16 as fp16_mod
    out = str(tmp_path / 'm16.onnx')
    assert 'missing.onnx' in _refused(fp16_mod.main, [str(tmp_path / 'missing.onnx'), out],
                                      capsys)
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not an onnx file')
    assert _refused(fp16_mod.main, [str(bad), out], capsys).startswith(
        f'error: {bad}: cannot convert (')
    assert not osp.exists(out)
    open(out, 'w').close()
    assert _refused(fp16_mod.main, [str(bad), out], capsys) == \
        f'error: {out}: exists; not overwritten'


@pytest.mark.slow
def test_fp16_module_exit_status(tmp_path):
    pytest.importorskip('onnx')
    p = subprocess.run([sys.executable, '-m', 'erpose_mm.deploy.fp16',
                        str(tmp_path / 'missing.onnx'), str(tmp_path / 'out.onnx')],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'missing.onnx' in lines[0]
