"""What each model config builds: parameter counts (paper Table V), head levels per
scale, the CrowdPose head."""
import pytest
from mmpose.registry import MODELS

PAPER_PARAMS = dict(n=2.53e6, s=9.69e6, m=23.36e6, l=39.95e6)


@pytest.mark.parametrize('scale', ['n', 's', 'm', 'l'])
def test_inference_param_count_matches_paper(scale, model_cfg):
    model = MODELS.build(model_cfg(scale))
    model.head.switch_to_deploy()
    n = sum(p.numel() for p in model.parameters())
    assert abs(n / PAPER_PARAMS[scale] - 1) <= 0.03, (scale, n)


def test_levels_per_scale_follow_table_v(model_cfg):
    assert list(model_cfg('n').head.featmap_strides) == [16, 32]
    for s in 'sml':
        assert list(model_cfg(s).head.featmap_strides) == [8, 16, 32]


def test_crowdpose_config_has_14_keypoints(model_cfg):
    model = MODELS.build(model_cfg('n', 'crowdpose-640'))
    assert model.head.num_keypoints == 14 and model.head.sigmas.numel() == 14
