"""Inputs the ONNX runner and the inference tools must not take silently: float images in
[0, 255], two runs racing for the same output names, thresholds outside their range.
No model needed (fake predictors); fast.
"""
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from erpose_mm.runtime import cli as cli_mod
from erpose_mm.runtime import inference_loop as loop_mod
from erpose_mm.runtime.image_io import InputError, to_bgr8



def image(seed=0, h=24, w=32):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


# ----------------------------------------------------------------------------- float images
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_float_images_in_0_255_are_not_saturated(dtype):
    img = image()
    np.testing.assert_array_equal(to_bgr8(img.astype(dtype)), img)
    np.testing.assert_array_equal(to_bgr8(img.astype(dtype) / 255), img)   # [0, 1] still works
    gray = img[..., 0].astype(dtype)
    np.testing.assert_array_equal(to_bgr8(gray)[..., 0], img[..., 0])


@pytest.mark.parametrize('bad, msg', [(-0.5, r'span \[-0.5, '), (300.0, r'300\], neither'),
                                      (np.nan, 'NaN or inf')])
def test_float_images_out_of_range_refused(bad, msg):
    img = image().astype(np.float32)
    img[0, 0, 0] = bad
    with pytest.raises(InputError, match=msg) as e:
        to_bgr8(img, 'frame.npy')
    assert str(e.value).startswith('frame.npy: ') and '\n' not in str(e.value)


# ----------------------------------------------------------------------------- output race
def _args(out_dir, **kw):
    d = dict(out_dir=str(out_dir), overwrite=False, no_vis=False, show=False, score_thr=0.3,
             track=False, track_low_thr=0.1, track_max_age=30, batch_size=1, kpt_thr=0.3,
             no_bbox=False, radius=None, thickness=None)
    d.update(kw)
    return SimpleNamespace(**d)


def _person(score=0.9):
    kp = [[10.0 + i, 12.0 + i] for i in range(17)]
    return dict(keypoints=kp, keypoint_scores=[0.9] * 17, bbox=[10, 12, 26, 28],
                bbox_score=score)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / 'imgs'
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f'im{i}.png'), image(i))
    return d


def test_race_between_check_and_write_is_refused(folder, tmp_path, monkeypatch):
    """Another run creates an output file after this run's existence check: this run must
    fail with the 'already exists ... --overwrite' line and leave that file alone."""
    out = tmp_path / 'out'
    theirs = out / 'predictions' / 'im1.png.json'
    real_check = loop_mod.check_outputs

    def check_then_other_run_writes(paths, overwrite):
        real_check(paths, overwrite)
        theirs.parent.mkdir(parents=True, exist_ok=True)
        theirs.write_text('["the other run"]')

    monkeypatch.setattr(loop_mod, 'check_outputs', check_then_other_run_writes)
    loop = loop_mod.InferenceLoop(lambda imgs: [[_person()] for _ in imgs], _args(out), [])
    with pytest.raises(loop_mod.OutputExists, match='already exists; pass --overwrite') as e:
        loop.run(loop_mod.parse_source(str(folder)))
    assert str(theirs) in str(e.value) and '\n' not in str(e.value)
    assert theirs.read_text() == '["the other run"]'
    # what this run had claimed before the clash is released: only the other run's file
    left = sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file())
    assert left == ['predictions/im1.png.json']


def test_two_runs_one_wins(folder, tmp_path):
    """Both runs passed the check (simulated: the second starts while the first has only
    claimed its names); the second fails, the first completes and owns every file."""
    out = tmp_path / 'out'
    paths = [p for pair in loop_mod.InferenceLoop(None, _args(out), [])._paths(
        loop_mod.parse_source(str(folder))) for p in pair if p]
    loop_mod.check_outputs(paths, False)
    first = loop_mod.claim_outputs(paths)
    with pytest.raises(loop_mod.OutputExists):
        loop_mod.claim_outputs(paths)
    loop_mod.release_claims(first, ())
    assert not any(osp.exists(p) for p in paths)
    loop = loop_mod.InferenceLoop(lambda imgs: [[_person()] for _ in imgs], _args(out), [])
    assert loop.run(loop_mod.parse_source(str(folder))) == 0
    assert all(osp.getsize(p) > 0 for p in paths)
    again = loop_mod.InferenceLoop(lambda imgs: [[] for _ in imgs], _args(out), [])
    with pytest.raises(loop_mod.OutputExists):
        again.run(loop_mod.parse_source(str(folder)))
    over = loop_mod.InferenceLoop(lambda imgs: [[] for _ in imgs],
                                  _args(out, overwrite=True), [])
    assert over.run(loop_mod.parse_source(str(folder))) == 0


def test_failed_run_releases_its_claims(folder, tmp_path):
    out = tmp_path / 'out'

    def broken(imgs):
        raise RuntimeError('model failed')

    with pytest.raises(RuntimeError):
        loop_mod.InferenceLoop(broken, _args(out), []).run(loop_mod.parse_source(str(folder)))
    assert not [p for p in out.rglob('*') if p.is_file()]


# ----------------------------------------------------------------------------- thresholds
def _parsers():
    from tools import infer as infer_tool
    return (('onnx', lambda argv: cli_mod.build_onnx_parser().parse_args(['m.onnx'] + argv)),
            ('torch', lambda argv: infer_tool.parse_args(['cfg.py', 'c.pth'] + argv)))


@pytest.mark.parametrize('flag, value', [('--score-thr', '1.5'), ('--score-thr', '-0.1'),
                                         ('--score-thr', 'high'), ('--dedupe-thr', '0'),
                                         ('--dedupe-thr', '1.2'), ('--dedupe-thr', '-1')])
def test_thresholds_out_of_range_are_argparse_errors(flag, value, capsys):
    for name, parse in _parsers():
        with pytest.raises(SystemExit) as e:
            parse(['img.jpg', flag, value])
        assert e.value.code == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert f'error: argument {flag}' in err[-1] and value in err[-1], (name, err)


def test_thresholds_in_range_accepted():
    for name, parse in _parsers():
        a = parse(['img.jpg', '--score-thr', '0', '--dedupe-thr', '1'])
        assert a.score_thr == 0.0 and a.dedupe_thr == 1.0, name
        b = parse(['img.jpg', '--score-thr', '1', '--dedupe-thr', '0.8'])
        assert b.score_thr == 1.0 and b.dedupe_thr == 0.8 and parse(['i']).dedupe_thr is None
