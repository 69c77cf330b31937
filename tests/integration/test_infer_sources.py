"""tools/infer.py (PyTorch) and tools/onnx_infer.py (ONNX Runtime) on live sources and
through the inference loop: cameras and streams (a fake cv2.VideoCapture), q / Ctrl-C,
progress and throughput, batches (= batch 1), --track and the ID colours. Random-weight
ER-Pose-n (synthetic 256 config) on generated images: no data needed.
"""
import os
import sys

import cv2
import numpy as np
import pytest

import erpose_mm  # noqa: F401
from erpose_mm.deploy.export import export_onnx
from erpose_mm.runtime import cli as cli_mod
from erpose_mm.runtime import inference_loop as loop_mod
from erpose_mm.runtime.drawing import track_color
from erpose_mm.tracking import clear_mot, make_walking_scene
from infer_tools_common import (ALIAS, CFG, ckpt, count_frames, images,  # noqa: F401
                                onnx_dyn, read_json, synthetic_image, video, work)
from tools import infer as infer_tool
from tools import onnx_infer as onnx_tool

ort = pytest.importorskip('onnxruntime')


@pytest.fixture(scope='module')
def onnx_static(work, ckpt):
    return export_onnx(CFG, ckpt, str(work / 'static.onnx'), input_size=(256, 256))


class FakeCapture:
    """cv2.VideoCapture stand-in: ``n`` synthetic frames, then end of stream (``n=None``:
    endless); ``interrupt_at``: raise KeyboardInterrupt (Ctrl-C) at that read."""
    opened = []

    def __init__(self, target, n=6, interrupt_at=None):
        FakeCapture.opened.append(target)
        self.n, self.i, self.interrupt_at = n, 0, interrupt_at

    def isOpened(self):
        return True

    def read(self):
        if self.interrupt_at is not None and self.i == self.interrupt_at:
            raise KeyboardInterrupt
        if self.n is not None and self.i >= self.n:
            return False, None
        self.i += 1
        return True, np.roll(synthetic_image(3), 4 * self.i, axis=1)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def fake_capture(monkeypatch, **kw):
    FakeCapture.opened = []
    real = cv2.VideoCapture

    def make(target, *a):
        if isinstance(target, int) or '://' in str(target):
            return FakeCapture(target, **kw)
        return real(target, *a)       # files (the output video check) stay real
    monkeypatch.setattr(cv2, 'VideoCapture', make)


# ----------------------------------------------------------------------------- cameras
@pytest.mark.parametrize('spec,index', [('webcam', 0), ('webcam:2', 2), ('1', 1)])
def test_onnx_camera_writes_video_and_json(spec, index, onnx_dyn, work, monkeypatch, capsys):
    fake_capture(monkeypatch, n=6)
    out = work / f'cam_{index}'
    rc = onnx_tool.main([onnx_dyn, spec, '--out-dir', str(out), '--track'])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert FakeCapture.opened == [index]
    frames = read_json(out / 'predictions' / f'camera{index}.json')
    assert [f['frame_id'] for f in frames] == list(range(6))
    assert all('track_id' in p for f in frames for p in f['instances'])
    assert count_frames(out / 'visualizations' / f'camera{index}.mp4') == 6
    assert '6 frames' in cap.out and 'frames/s' in cap.out


def test_stream_url_is_opened_by_opencv(onnx_dyn, work, monkeypatch, capsys):
    fake_capture(monkeypatch, n=3)
    url = 'rtsp://cam.local:554/live/ch1'
    out = work / 'stream'
    rc = onnx_tool.main([onnx_dyn, url, '--out-dir', str(out)])
    assert rc == 0, capsys.readouterr().err
    assert FakeCapture.opened == [url]
    assert len(read_json(out / 'predictions' / 'stream_cam.local_554_live_ch1.json')) == 3


def test_show_stops_on_q(onnx_dyn, monkeypatch, capsys):
    fake_capture(monkeypatch, n=None)             # an endless camera
    monkeypatch.setenv('DISPLAY', ':99')
    shown, keys = [], iter([-1, -1, ord('q')])
    monkeypatch.setattr(cv2, 'namedWindow', lambda *a: None)
    monkeypatch.setattr(cv2, 'imshow', lambda name, img: shown.append(img.shape))
    monkeypatch.setattr(cv2, 'waitKey', lambda ms: next(keys))
    monkeypatch.setattr(cv2, 'destroyAllWindows', lambda: None)
    rc = onnx_tool.main([onnx_dyn, 'webcam', '--show'])
    out = capsys.readouterr().out
    assert rc == 0 and len(shown) == 3 and 'stopped by q after 3 frames' in out


def test_show_without_display_is_one_line(onnx_dyn, monkeypatch, capsys):
    if not sys.platform.startswith('linux'):
        pytest.skip('the DISPLAY check is for Linux')
    fake_capture(monkeypatch, n=2)
    for var in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM'):
        monkeypatch.delenv(var, raising=False)
    rc = onnx_tool.main([onnx_dyn, 'webcam', '--show'])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == ('error: --show: no display (DISPLAY is not set); use '
                                       '--out-dir, or run where a display is available')


def test_ctrl_c_stops_cleanly_and_keeps_results(onnx_dyn, ckpt, work, monkeypatch, capsys):
    for tool, model, name in ((onnx_tool, onnx_dyn, 'onnx'), (infer_tool, ckpt, 'torch')):
        fake_capture(monkeypatch, n=None, interrupt_at=4)
        out = work / f'ctrl_c_{name}'
        args = [model, 'webcam', '--out-dir', str(out)]
        rc = tool.main([CFG] + args if tool is infer_tool else args)
        cap = capsys.readouterr()
        assert rc == 0 and 'Traceback' not in cap.err, cap.err
        assert 'stopped by Ctrl-C after 4 frames' in cap.out
        assert len(read_json(out / 'predictions' / 'camera0.json')) == 4
        assert count_frames(out / 'visualizations' / 'camera0.mp4') == 4


def test_infer_tool_webcam(ckpt, work, monkeypatch, capsys):
    fake_capture(monkeypatch, n=3)
    out = work / 'torch_cam'
    rc = infer_tool.main([ALIAS, ckpt, 'webcam', '--out-dir', str(out), '--track'])
    assert rc == 0, capsys.readouterr().err
    frames = read_json(out / 'predictions' / 'camera0.json')
    assert len(frames) == 3 and frames[0]['instances']


def test_camera_that_does_not_open(onnx_dyn, monkeypatch, capsys):
    class Closed(FakeCapture):
        def isOpened(self):
            return False
    monkeypatch.setattr(cv2, 'VideoCapture', lambda t, *a: Closed(t))
    rc = onnx_tool.main([onnx_dyn, 'webcam:3'])
    err = capsys.readouterr().err
    assert rc == 2 and 'camera 3' in err and 'cannot be opened' in err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- progress
def test_progress_bar_and_throughput(onnx_dyn, images, video, work, capsys):
    rc = onnx_tool.main([onnx_dyn, str(images), '--out-dir', str(work / 'prog_dir')])
    cap = capsys.readouterr()
    assert rc == 0 and '3/3' in cap.err and 'image/s' in cap.err
    assert '3 images' in cap.out and 'images/s' in cap.out and 'ms/image' in cap.out
    rc = onnx_tool.main([onnx_dyn, video, '--out-dir', str(work / 'prog_vid')])
    cap = capsys.readouterr()
    assert rc == 0 and '10/10' in cap.err and 'frame/s' in cap.err
    assert '10 frames' in cap.out and 'frames/s' in cap.out


# ----------------------------------------------------------------------------- batches
def _keypoints(frames):
    return [np.array([p['keypoints'] for p in f['instances']]) for f in frames]


def test_onnx_batches_equal_batch_1(onnx_dyn, onnx_static, images, video, work, capsys):
    from erpose_mm.deploy import ERPoseONNX
    r = ERPoseONNX(onnx_dyn, score_thr=0.3)
    assert r.max_batch is None
    files = sorted(str(p) for p in images.iterdir())
    one = [r(f) for f in files]
    many = r.predict_batch(files)
    assert [len(p) for p in one] == [len(p) for p in many] and sum(map(len, one)) > 0
    for a, b in zip(one, many):
        for pa, pb in zip(a, b):
            assert np.abs(np.subtract(pa['keypoints'], pb['keypoints'])).max() < 1e-3
            assert abs(pa['bbox_score'] - pb['bbox_score']) < 1e-5
    res = {}
    for bs in (1, 4):
        out = work / f'vid_b{bs}'
        assert onnx_tool.main([onnx_dyn, video, '--out-dir', str(out), '--batch-size',
                               str(bs)]) == 0
        res[bs] = read_json(out / 'predictions' / 'walk.avi.json')
    assert len(res[1]) == len(res[4]) == 10
    for a, b in zip(_keypoints(res[1]), _keypoints(res[4])):
        assert a.shape == b.shape and (a.size == 0 or np.abs(a - b).max() < 1e-3)
    capsys.readouterr()
    # a static graph: one note, batch 1, same results
    out = work / 'vid_static'
    assert onnx_tool.main([onnx_static, video, '--out-dir', str(out), '--batch-size', '4']) == 0
    err = capsys.readouterr().err
    assert 'static batch of 1' in err and 'dynamic=True' in err
    static = read_json(out / 'predictions' / 'walk.avi.json')
    for a, b in zip(_keypoints(res[1]), _keypoints(static)):
        assert a.shape == b.shape and (a.size == 0 or np.abs(a - b).max() < 1e-3)


def test_torch_batches_equal_batch_1(ckpt, images, work):
    res = {}
    for bs in (1, 3):
        out = work / f'torch_b{bs}'
        assert infer_tool.main([CFG, ckpt, str(images), '--out-dir', str(out),
                                '--batch-size', str(bs), '--no-vis']) == 0
        res[bs] = {f: read_json(out / 'predictions' / f)
                   for f in os.listdir(out / 'predictions')}
    assert sorted(res[1]) == sorted(res[3]) and len(res[1]) == 3
    n = 0
    for f in res[1]:
        a, b = res[1][f], res[3][f]
        assert len(a) == len(b)
        for pa, pb in zip(a, b):
            n += 1
            assert np.abs(np.subtract(pa['keypoints'], pb['keypoints'])).max() < 1e-3
    assert n > 0


def test_bad_batch_size(onnx_dyn, images, capsys):
    assert onnx_tool.main([onnx_dyn, str(images), '--batch-size', '0']) == 2
    assert '--batch-size must be >= 1' in capsys.readouterr().err


# ----------------------------------------------------------------------------- tracking
def test_track_ids_in_json_and_colours(work, monkeypatch):
    """The loop with --track on a synthetic crossing sequence (detections fed as the
    model's output): IDs follow the people (<= 1 switch per crossing) and each person is
    drawn in its ID's colour."""
    scene = make_walking_scene(num_pairs=2, num_frames=60, width=480, height=270, seed=3)
    frames = iter(scene['det_frames'])

    def predict(imgs):
        out = []
        for _ in imgs:
            dets = next(frames)
            out.append([dict(d, bbox=np.r_[np.min(d['keypoints'], 0),
                                           np.max(d['keypoints'], 0)].tolist())
                        for d in dets])
        return out

    class Blank(FakeCapture):
        def read(self):
            if self.i >= 60:
                return False, None
            self.i += 1
            return True, np.zeros((270, 480, 3), np.uint8)
    monkeypatch.setattr(cv2, 'VideoCapture', lambda t, *a: Blank(t))
    out = work / 'track_loop'
    args = cli_mod.argparse.ArgumentParser()
    cli_mod.add_common_args(args)
    args = args.parse_args(['webcam', '--out-dir', str(out), '--track', '--batch-size', '4',
                            '--no-bbox'])
    drawn = []
    real_draw = loop_mod.draw_poses

    def draw(img, people, *a, **k):
        vis = real_draw(img, people, *a, **k)
        drawn.append((vis, people))
        return vis
    monkeypatch.setattr(loop_mod, 'draw_poses', draw)
    skeleton = [(5, 7), (7, 9), (11, 13), (13, 15)]
    assert loop_mod.InferenceLoop(predict, args, skeleton).run(loop_mod.parse_source(
        'webcam')) == 0
    res = read_json(out / 'predictions' / 'camera0.json')
    pred = [[dict(track_id=p['track_id'], keypoints=p['keypoints']) for p in f['instances']]
            for f in res]
    m = clear_mot(scene['gt_frames'], pred)
    assert m['idsw'] <= max(1, len(scene['crossings'])) and m['mota'] > 0.6, m
    # colours: a confidently seen keypoint is drawn in its track's colour
    checked = 0
    for vis, people in drawn[::10]:
        for p in people:
            k = np.asarray(p['keypoints'])
            for j in np.nonzero(np.asarray(p['keypoint_scores']) > 0.5)[0][:2]:
                x, y = int(round(k[j, 0])), int(round(k[j, 1]))
                if 0 <= x < 480 and 0 <= y < 270:
                    others = [q for q in people if q is not p and np.min(np.abs(
                        np.asarray(q['keypoints']) - k[j]).sum(1)) < 12]
                    if not others:
                        assert tuple(int(c) for c in vis[y, x]) == track_color(p['track_id'])
                        checked += 1
    assert checked >= 5


def test_track_colours_differ():
    cols = {track_color(i) for i in range(12)}
