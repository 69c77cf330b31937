"""``erpose_mm.runtime`` (ONNX runner, inference loop, tracker, geometry, constants) imports
and works where torch and mmcv cannot be imported; its geometry and constants agree with
the PyTorch side."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from erpose_mm.runtime import constants, geometry

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

BLOCKED_IMPORT = '''
import sys
for name in ('torch', 'mmcv', 'mmengine', 'mmpose', 'mmdet', 'mmdeploy'):
    sys.modules[name] = None          # any `import name` now raises ImportError
import numpy as np
import erpose_mm.runtime as rt
from erpose_mm.runtime import cli, geometry, inference_loop, tracker
import erpose_mm.deploy.quantize      # the INT8 tool's module is torch-free too
from erpose_mm.deploy import ERPoseONNX
assert ERPoseONNX is rt.ERPoseONNX
t = rt.PoseTracker()
kpts = np.tile(np.linspace(0, 50, 17)[:, None], (1, 2))
people = [dict(keypoints=kpts, keypoint_scores=np.ones(17), bbox=[0, 0, 50, 50],
               bbox_score=0.9)]
assert [p['track_id'] for p in t.update_people(people)] == [0]
assert cli.build_onnx_parser().parse_args(['m.onnx', 'img.jpg']).score_thr == 0.3
loaded = [m for m in ('torch', 'mmcv', 'mmengine', 'mmpose') if sys.modules.get(m) is not None]
assert not loaded, loaded
print('ok')
'''


@pytest.mark.slow
def test_runtime_imports_without_torch_or_mmcv():
    p = subprocess.run([sys.executable, '-c', BLOCKED_IMPORT], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and 'ok' in p.stdout, p.stderr[-3000:]


def test_input_to_image_inverts_the_letterbox():
    """A point warped into the input by the resize's own matrix maps back to itself."""
    center, scale, size = geometry.bottomup_resize_params(300, 500, (256, 256))
    mat = geometry.warp_matrix(center, scale, size)
    pts = np.array([[0.0, 0.0], [300.0, 500.0], [120.5, 33.0]])
    warped = pts @ mat[:, :2].T + mat[:, 2]
    back = geometry.input_to_image(warped, center, scale, np.array(size, np.float32))
    np.testing.assert_allclose(back, pts, atol=1e-3)
    x0, y0, x1, y1 = geometry.image_region_in_input(size, center, scale, (500, 300))
    np.testing.assert_allclose([x0, y0, x1, y1], [*warped[0], *warped[1]], atol=1e-3)
    assert geometry.image_region_in_input((256, 128)) == (0.0, 0.0, 256.0, 128.0)


def test_constants():
    assert len(constants.COCO_SIGMAS) == 17
    assert constants.default_sigmas(17) == list(constants.COCO_SIGMAS)
    assert constants.default_sigmas(5) == [0.07] * 5
    assert constants.coco_sigmas_if_17(14) is None
    meta = constants.DEFAULT_META
    assert (meta['score_thr'], meta['max_per_img']) == (constants.DEFAULT_SCORE_THR,
                                                        constants.DEFAULT_MAX_PER_IMG)
