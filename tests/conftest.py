import os
import os.path as osp
import sys
import warnings

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(REPO), 'shared')
sys.path.insert(0, REPO)
warnings.filterwarnings('ignore', message='The metainfo config file')
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture(scope='session')
def shared_data() -> str:
    path = osp.join(SHARED, 'data')
    if not osp.isdir(path):
        pytest.skip('../shared/data is not available')
    return path


@pytest.fixture(autouse=True)
def _mmpose_scope():
    import erpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    yield
