"""MMPoseInferencer with ER-Pose (image / folder / video, visualisations + JSON with boxes
derived from keypoints), tools/infer.py (bad inputs), and the ONNX runner against the
inferencer on the demo images.
"""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

from bad_inputs import BAD_INPUT_CASES, make_bad_inputs  # noqa: E402
import erpose_mm  # noqa: E402,F401  (before mmpose.apis: torchvision stub, registration)
from erpose_mm.runtime import onnx_runner  # noqa: E402
from erpose_mm.deploy.export import export_onnx  # noqa: E402
from erpose_mm.testing import make_random_checkpoint  # noqa: E402

CFG_N = osp.join(REPO, 'configs/erpose/erpose-n_coco-640.py')
THR = 0.3


from tools import infer as infer_tool  # noqa: E402


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('inference')


@pytest.fixture(scope='module')
def ckpt(work, demo_images):
    # random weights calibrated on the demo images: distinct, unsaturated scores there
    return make_random_checkpoint(CFG_N, str(work / 'n.pth'), seed=0,
                                  calib_images=demo_images.imgs,
                                  calib_sizes=(320, ))


@pytest.fixture(scope='module')
def inferencer(ckpt):
    from mmpose.apis import MMPoseInferencer
    return MMPoseInferencer(pose2d=CFG_N, pose2d_weights=ckpt, device='cpu')


def run(inferencer, inputs, **kwargs):
    kwargs.setdefault('bbox_thr', THR)
    return [p for r in inferencer(inputs, **kwargs) for p in r['predictions']]


def as_bbox(b):
    return np.asarray(b, np.float64).reshape(-1)


def check_people(people, img_w, img_h, thr=THR):
    assert people, 'no person predicted'
    for p in people:
        k = np.asarray(p['keypoints'], np.float64)
        assert k.shape == (17, 2) and len(p['keypoint_scores']) == 17
        assert float(np.asarray(p['bbox_score']).reshape(-1)[0]) > thr
        x1, y1, x2, y2 = as_bbox(p['bbox'])
        # the box is the keypoints' extent, clipped to the image
        np.testing.assert_allclose([x1, y1], np.clip(k.min(0), 0, [img_w, img_h]), atol=1e-3)
        np.testing.assert_allclose([x2, y2], np.clip(k.max(0), 0, [img_w, img_h]), atol=1e-3)


def test_inferencer_image(inferencer, work, demo_images):
    out = work / 'img'
    preds = run(inferencer, demo_images.img, out_dir=str(out), draw_bbox=True)
    img = cv2.imread(demo_images.img)
    check_people(preds[0], img.shape[1], img.shape[0])
    vis = cv2.imread(str(out / 'visualizations' / 'human-pose.jpeg'))
    assert vis is not None and vis.shape == img.shape and np.abs(vis.astype(int) - img).max() > 0
    js = json.loads((out / 'predictions' / 'human-pose.json').read_text())
    assert len(js) == len(preds[0])
    check_people(js, img.shape[1], img.shape[0])


def test_inferencer_folder(inferencer, work, demo_images):
    folder = work / 'folder'
    folder.mkdir()
    for f in (demo_images.frame, demo_images.img):
        shutil.copy(f, folder / osp.basename(f))
    out = work / 'folder_out'
    preds = run(inferencer, str(folder), out_dir=str(out))
    assert len(preds) == 2
    assert sorted(os.listdir(out / 'visualizations')) == sorted(os.listdir(folder))
    for f in os.listdir(folder):
        stem = osp.splitext(f)[0]
        h, w = cv2.imread(str(folder / f)).shape[:2]
        check_people(json.loads((out / 'predictions' / f'{stem}.json').read_text()), w, h)


@pytest.fixture(scope='module')
def tiny_video(work, demo_images):
    path = str(work / 'tiny.mp4')
    frame = cv2.resize(cv2.imread(demo_images.frame), (320, 180))
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 5, (320, 180))
    assert vw.isOpened()
    for i in range(3):
        vw.write(np.roll(frame, 8 * i, axis=1))
    vw.release()
    return path


def test_inferencer_video(inferencer, work, tiny_video):
    out = work / 'video_out'
    preds = run(inferencer, tiny_video, out_dir=str(out))
    assert len(preds) == 3
    cap = cv2.VideoCapture(str(out / 'visualizations' / 'tiny.mp4'))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 3
    frames = json.loads((out / 'predictions' / 'tiny.json').read_text())
    assert [f['frame_id'] for f in frames] == [0, 1, 2]
    for f in frames:
        check_people(f['instances'], 320, 180)


def test_onnx_runner_matches_inferencer(inferencer, ckpt, work, demo_images):
    """Same checkpoint exported (plain path, static 640): the torch-free runner gives the
    inferencer's poses on the demo images."""
    path = export_onnx(CFG_N, ckpt, str(work / 'n640.onnx'), input_size=(640, 640),
                       score_thr=0.01, max_per_img=100)
    runner = onnx_runner.ERPoseONNX(path, score_thr=THR)
    worst_k = worst_b = worst_s = 0.0
    for img in demo_images.imgs:
        ref = run(inferencer, img)[0]
        got = runner(img)
        assert len(ref) >= 3 and abs(len(got) - len(ref)) <= 1, (img, len(got), len(ref))
        n = min(len(got), len(ref), 20)  # the top detections, sorted by score
        for a, b in zip(ref[:n], got[:n]):
            worst_k = max(worst_k, np.abs(np.asarray(a['keypoints']) -
                                          np.asarray(b['keypoints'])).max())
            worst_b = max(worst_b, np.abs(as_bbox(a['bbox']) - as_bbox(b['bbox'])).max())
            worst_s = max(worst_s, abs(float(np.asarray(a['bbox_score']).reshape(-1)[0]) -
                                       b['bbox_score']))
    print(f'\n[runner vs inferencer] max |dkpt| = {worst_k:.2e} px, max |dbox| = '
          f'{worst_b:.2e} px, max |dscore| = {worst_s:.2e}')
    assert worst_k < 1.0 and worst_b < 1.0 and worst_s < 1e-3


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope='module')
def bad(work, demo_images):
    return make_bad_inputs(work / 'bad', demo_images.img)


@pytest.mark.parametrize('name,msg', BAD_INPUT_CASES)
def test_infer_cli_bad_input(name, msg, bad, ckpt, capsys):
    path = str(bad / name)
    rc = infer_tool.main([CFG_N, ckpt, path, '--out-dir', str(bad / 'out')])
    err = capsys.readouterr().err
    assert rc == 2 and path in err and msg in err, err
    assert 'Traceback' not in err


def test_infer_cli_missing_checkpoint(bad, capsys, demo_images):
    rc = infer_tool.main([CFG_N, str(bad / 'nope.pth'), demo_images.img])
    err = capsys.readouterr().err
    assert rc == 2 and 'nope.pth' in err


def test_infer_cli_mixed_folder(bad, ckpt, capsys):
    out = bad / 'out_mixed'
    rc = infer_tool.main([CFG_N, ckpt, str(bad / 'mixed'), '--out-dir', str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert str(bad / 'mixed' / 'b.jpg') in cap.err
    assert os.listdir(out / 'predictions') == ['a.jpg.json']
    assert os.listdir(out / 'visualizations') == ['a.jpg']


def test_inferencer_names_corrupt_file(inferencer, bad):
    """Through MMPoseInferencer directly, MMPose's LoadImage names the file."""
    with pytest.raises(Exception, match='corrupt.jpg'):
        run(inferencer, str(bad / 'corrupt.jpg'))


def test_inferencer_image_conversions(inferencer, bad):
    """grayscale / RGBA / 16-bit files are read as 8-bit BGR: same poses as the
    equivalent 8-bit BGR file; 1x1 and 4000x6000 images work."""
    def kp(people):
        return np.array([p['keypoints'] for p in people])

    ref = run(inferencer, str(bad / 'bgr.png'))[0]
    for name in ('rgba.png', 'img16.png'):
        got = run(inferencer, str(bad / name))[0]
        assert len(got) == len(ref) and np.abs(kp(got) - kp(ref)).max() < 1e-3, name
    gref = run(inferencer, str(bad / 'gray_as_bgr.png'))[0]
    got = run(inferencer, str(bad / 'gray.png'))[0]
    assert len(got) == len(gref) and np.abs(kp(got) - kp(gref)).max() < 1e-3
    one = run(inferencer, str(bad / 'one.png'), bbox_thr=0.0)[0]
    for p in one:
        assert np.all(np.isfinite(p['keypoints']))
        x1, y1, x2, y2 = as_bbox(p['bbox'])
        assert -1e-3 <= x1 <= x2 <= 1 + 1e-3 and -1e-3 <= y1 <= y2 <= 1 + 1e-3
    big = run(inferencer, str(bad / 'big.jpg'))[0]
    check_people(big, 4000, 6000)
