"""The keypoint offset prior (``kpt_prior_height``): offsets start at a standing pose."""
import pytest
import torch
from mmpose.registry import MODELS


def test_keypoint_prior_starts_offsets_at_a_standing_pose(model_cfg):
    """kpt_prior_height: before any training, every cell predicts a standing person of that
    many strides (nose above the cell, ankles below, left side on the image's right);
    without it all keypoints start at the cell centre. Inference size is unchanged."""
    cfg = model_cfg('n')
    feats = [torch.zeros(1, 128, 4, 4), torch.zeros(1, 256, 2, 2)]   # features carry no signal

    def start_offsets(height):
        cfg.head.kpt_prior_height = height
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()           # as the Runner does before training
        head = model.head.eval()
        with torch.no_grad():
            out = head.decode(head.one2one(feats))
        rel = out['keypoints'][0] - out['priors'][:, None]              # (N, K, 2) px
        return rel / out['strides'][:, None, None], head               # in strides

    rel0, _ = start_offsets(None)
    assert rel0.abs().max() < 1e-3
    rel, head = start_offsets(4.0)
    nose, l_sho, r_sho, l_ank = rel[:, 0], rel[:, 5], rel[:, 6], rel[:, 15]
    # the same pose, in stride units, on both levels; 4 strides from head to toe
    assert torch.allclose(rel, rel[:1].expand_as(rel), atol=1e-4)
    assert nose[0, 1] < -1.5 and l_ank[0, 1] > 1.5 and (l_ank[0, 1] - nose[0, 1]) < 4.0
    assert l_sho[0, 0] > 0 > r_sho[0, 0]
    plain = start_offsets(None)[1]
    for h in (head, plain):
        h.switch_to_deploy()
    assert sum(p.numel() for p in head.parameters()) == sum(p.numel() for p in plain.parameters())
    with pytest.raises(ValueError, match='height_in_strides'):
        start_offsets(-1.0)
