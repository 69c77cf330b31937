"""What the tests of tools/infer.py (PyTorch) and tools/onnx_infer.py (ONNX Runtime) share
(tests/integration/test_infer_sources.py, test_infer_outputs.py): random-weight ER-Pose-n
(synthetic 256 config), its ONNX export, generated images and a video, and small readers.
The fixtures are module-scoped; a test module imports the ones it uses."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from erpose_mm.deploy.export import export_onnx
from erpose_mm.testing import make_random_checkpoint

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
ALIAS = 'erpose-n_synthetic'   # configs/erpose/metafile.yml


def synthetic_image(seed, w=320, h=240):
    """A textured image with person-like blobs (enough structure for random weights)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), np.uint8), (0, 0), 3)
    for _ in range(4):
        x, y = int(rng.integers(20, w - 20)), int(rng.integers(20, h - 60))
        col = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.ellipse(img, (x, y), (8, 10), 0, 0, 360, col, -1)
        cv2.rectangle(img, (x - 10, y + 10), (x + 10, y + 50), col, -1)
    return img


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('infer_tools')


@pytest.fixture(scope='module')
def images(work):
    d = work / 'imgs'
    d.mkdir()
    for i, (w, h) in enumerate([(320, 240), (240, 320), (300, 300)]):
        cv2.imwrite(str(d / f'im{i}.jpg'), synthetic_image(i, w, h))
    return d


@pytest.fixture(scope='module')
def ckpt(work, images):
    return make_random_checkpoint(CFG, str(work / 'n.pth'), seed=0,
                                  calib_images=sorted(str(p) for p in images.iterdir()),
                                  calib_sizes=(256, ))


@pytest.fixture(scope='module')
def onnx_dyn(work, ckpt):
    return export_onnx(CFG, ckpt, str(work / 'dyn.onnx'), input_size=(256, 256), dynamic=True)


@pytest.fixture(scope='module')
def video(work):
    path = str(work / 'walk.avi')
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (320, 240))
    base = synthetic_image(7)
    for i in range(10):
        vw.write(np.roll(base, 5 * i, axis=1))
    vw.release()
    return path


def read_json(path):
    with open(path) as f:
        return json.load(f)


def count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n
