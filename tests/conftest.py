"""Shared fixtures. The repository root and ``tests/`` are on ``sys.path`` by pytest.ini's
``pythonpath``: tests import ``erpose_mm``, ``tools.<name>``, ``benchmarks.<name>`` and
the helpers here (``bad_inputs``) by name."""
import os
import os.path as osp
import warnings
from types import SimpleNamespace

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(REPO), 'shared')
warnings.filterwarnings('ignore', message='The metainfo config file')
os.environ.setdefault('OMP_NUM_THREADS', '2')


def pytest_configure(config) -> None:
    """The stack adapters for the whole session, as the tools and ``ERPoseRunner`` apply
    them (checkpoint loading on torch >= 2.6, MMPose's visualizer on numpy >= 2.4, atomic
    checkpoints): tests load checkpoints and build runners directly."""
    import erpose_mm  # noqa: F401
    from erpose_mm.compat import apply_stack_adapters
    apply_stack_adapters()


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


# ERPOSE_TESTS_IGNORE_SHARED=1 runs the tests as in a clone without ../shared
IGNORE_SHARED = os.environ.get('ERPOSE_TESTS_IGNORE_SHARED', '') not in ('', '0')


def shared_path(*parts: str):
    """``../shared/<parts>`` beside the repository, or None where it is absent (or
    ignored, ``ERPOSE_TESTS_IGNORE_SHARED=1``)."""
    path = osp.join(SHARED, *parts)
    return None if IGNORE_SHARED or not osp.exists(path) else path


# file name, width, height, seed of the synthetic stand-ins for ../shared/data/demo: the
# same names and sizes (one portrait photo, two landscape video frames)
DEMO_STAND_INS = (('human-pose.jpeg', 218, 346, 0), ('demo_mp4_frame000.jpg', 960, 540, 1),
                  ('demo_mp4_frame004.jpg', 960, 540, 2))


@pytest.fixture(scope='session')
def demo_images(tmp_path_factory) -> SimpleNamespace:
    """Demo images of people: ../shared/data/demo when present, else synthetic multi-person
    stand-ins (``write_demo_image``) of the same names and sizes.

    Attributes: ``dir`` (folder), ``img`` (the portrait photo), ``frame`` (a landscape
    video frame), ``imgs`` (all images, sorted), ``synthetic`` (bool).
    """
    folder = shared_path('data', 'demo')
    if folder is None:
        from erpose_mm.datasets.synthetic import write_demo_image
        folder = str(tmp_path_factory.mktemp('demo'))
        for name, w, h, seed in DEMO_STAND_INS:
            write_demo_image(osp.join(folder, name), width=w, height=h, seed=seed)
    return SimpleNamespace(dir=folder, img=osp.join(folder, 'human-pose.jpeg'),
                           frame=osp.join(folder, 'demo_mp4_frame000.jpg'),
                           imgs=sorted(osp.join(folder, f) for f in os.listdir(folder)),
                           synthetic=folder.startswith(str(tmp_path_factory.getbasetemp())))


@pytest.fixture(autouse=True)
def _mmpose_scope():
    import erpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    yield


# ------------------------------------------------------------------ model fixtures
@pytest.fixture(scope='session')
def model_cfg():
    """``model_cfg(scale, dataset='coco-640')``: a fresh copy of the ``model`` section of
    configs/erpose/erpose-{scale}_{dataset}.py."""
    from mmengine.config import Config

    def load(scale: str, dataset: str = 'coco-640'):
        path = osp.join(REPO, 'configs', 'erpose', f'erpose-{scale}_{dataset}.py')
        return Config.fromfile(path).model
    return load


@pytest.fixture(scope='module')
def model_n(model_cfg):
    """ER-Pose-n (COCO, 17 keypoints) with seed-0 random weights, one per test module."""
    # module-scoped fixtures are built before the function-scoped registry scope fixture
    import torch
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import erpose_mm  # noqa: F401
    init_default_scope('mmpose')
    torch.manual_seed(0)
    return MODELS.build(model_cfg('n'))


@pytest.fixture(scope='session')
def make_pose_sample():
    """``make_pose_sample(kpts, vis=None, h=128, w=160)``: a ``PoseDataSample`` whose
    ``gt_instance_labels`` hold people ``kpts`` (G, K, 2) in input pixels with visibility
    ``vis`` (G, K) (default all 1), boxes around the visible keypoints (a fixed box for a
    person without any) and box areas, as the training pipeline packs them."""
    import torch
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    def make(kpts, vis=None, h: int = 128, w: int = 160):
        kpts = torch.as_tensor(kpts, dtype=torch.float32)
        G, K = kpts.shape[:2]
        vis = torch.ones(G, K) if vis is None else torch.as_tensor(vis, dtype=torch.float32)
        ds = PoseDataSample(metainfo=dict(img_path='img.jpg', input_size=(w, h)))
        lo = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, 1e9)).amin(1)
        hi = torch.where(vis[..., None] > 0, kpts, torch.full_like(kpts, -1e9)).amax(1)
        bb = torch.cat([lo, hi], -1) if G else torch.zeros(0, 4)
        bb = torch.where(vis.sum(1, keepdim=True) > 0, bb, torch.tensor([[10.0, 10, 60, 60]]))
        ds.gt_instance_labels = InstanceData(keypoints=kpts, keypoints_visible=vis, bboxes=bb,
                                             areas=(bb[:, 2:] - bb[:, :2]).prod(-1))
        return ds
    return make


@pytest.fixture(scope='session')
def random_person():
    """``random_person(cx, cy, K=17, s=20.0)``: (K, 2) keypoints scattered (std ``s`` px)
    around ``(cx, cy)``, the same for the same centre."""
    import torch

    def make(cx: float, cy: float, K: int = 17, s: float = 20.0):
        g = torch.Generator().manual_seed(int(cx * 7 + cy))
        return torch.tensor([cx, cy]) + torch.randn(K, 2, generator=g) * s
    return make


INTEGRATION = osp.join(osp.dirname(osp.abspath(__file__)), 'integration')


def pytest_collection_modifyitems(config, items):
    """Every test under tests/integration/ runs a subprocess, trains or exports: all are
    ``slow`` (``-m "not slow"`` leaves them out)."""
    for item in items:
        if str(item.fspath).startswith(INTEGRATION + os.sep):
            item.add_marker(pytest.mark.slow)
