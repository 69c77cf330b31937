"""The SAH's learned 3-D max filter (``one2one_peak_filter``, :class:`PeakFilter`): what it
computes, that it starts as the plain head, trains only the SAH, and exports to ONNX."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmpose.registry import MODELS

from erpose_mm.models.heads import total_loss
from erpose_mm.models.heads.peak_filter import PeakFilter, cross_level_max


def reference_cross_level_max(feats, kernel=3):
    """Loop version: a cell's value is the max over the kernel window around it on its own
    level, around its parent on the coarser level and over its 2x2 children's windows on the
    finer level (the cells whose max-pooled parent falls in the window)."""
    out = []
    r = kernel // 2
    for i, x in enumerate(feats):
        x = x.numpy()
        B, C, H, W = x.shape
        res = np.full_like(x, -np.inf)
        for y in range(H):
            for xx in range(W):
                ys, xs = range(max(y - r, 0), min(y + r + 1, H)), range(max(xx - r, 0), min(xx + r + 1, W))
                vals = [x[:, :, yy, xc] for yy in ys for xc in xs]
                if i > 0:
                    f = feats[i - 1].numpy()
                    vals += [f[:, :, fy, fx] for yy in ys for xc in xs
                             for fy in (2 * yy, 2 * yy + 1) for fx in (2 * xc, 2 * xc + 1)
                             if fy < f.shape[2] and fx < f.shape[3]]
                if i + 1 < len(feats):
                    c = feats[i + 1].numpy()
                    vals += [c[:, :, yy // 2, xc // 2] for yy in ys for xc in xs]
                res[:, :, y, xx] = np.max(np.stack(vals), 0)
        out.append(res)
    return out


@pytest.mark.parametrize('sizes', [((8, 10), (4, 5)), ((9, 7), (5, 4), (3, 2))])
def test_cross_level_max_is_the_3d_window_max(sizes):
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 3, h, w, generator=g) for h, w in sizes]
    got = cross_level_max(feats)
    for a, b in zip(got, reference_cross_level_max(feats)):
        np.testing.assert_array_equal(a.numpy(), b)


def test_peak_filter_starts_at_zero_and_sees_the_peak():
    pf = PeakFilter(4, 2).eval()
    feats = [torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)]
    assert all((o == 0).all() for o in pf(feats))
    # one strong cell: with a trained last layer the filter's logit differs at the peak from
    # its neighbours, whose features were equal; without the max they could not differ
    x = torch.zeros(1, 4, 8, 8)
    x[..., 3, 3] = 5.0
    x[..., 3, 4] = 4.9
    peaks = cross_level_max([x, torch.zeros(1, 4, 4, 4)])[0]
    diff = x - peaks
    assert diff[..., 3, 3].abs().max() == 0 and (diff[..., 3, 4] < 0).all()


def _head_cfg(model_cfg, peak):
    cfg = model_cfg('n')
    cfg.head.one2one_peak_filter = peak
    return cfg


def test_head_with_filter_starts_as_the_plain_head_and_only_sah_gets_it(model_cfg, make_pose_sample,
                                                                          random_person):
    torch.manual_seed(0)
    plain = MODELS.build(_head_cfg(model_cfg, False)).eval()
    torch.manual_seed(0)
    peak = MODELS.build(_head_cfg(model_cfg, True)).eval()
    assert peak.head.one2one.peak is not None and peak.head.one2many.peak is None
    missing = peak.load_state_dict(plain.state_dict(), strict=False)
    assert missing.unexpected_keys == []
    assert missing.missing_keys and all('.one2one.peak.' in k for k in missing.missing_keys)
    x = torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        a = plain.head.dense_outputs(plain.extract_feat(x))['conf_logits']
        b = peak.head.dense_outputs(peak.extract_feat(x))['conf_logits']
    torch.testing.assert_close(a, b)

    # training: the filter learns from the SAH's loss
    peak.train()
    losses = peak.loss(x, [make_pose_sample(torch.stack([random_person(60, 60), random_person(100, 70)]))])
    total_loss(losses).backward()
    assert peak.head.one2one.peak.layers[0][-1].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_exported_model_with_filter_matches_pytorch(tmp_path, model_cfg):
    ort = pytest.importorskip('onnxruntime')
    from mmengine.config import Config

    from erpose_mm.deploy.export import build_model, export_onnx
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(repo, 'configs/erpose/erpose-n_synthetic-256.py'))
    cfg.model.head.one2one_peak_filter = True
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # a filter that does something, and BN statistics to fold
        for seq in model.head.one2one.peak.layers:
            seq[-1].weight.normal_(std=0.5)
            seq[0].bn.running_mean.normal_(std=0.1)
    ckpt = str(tmp_path / 'peak.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    cfg_file = str(tmp_path / 'peak_cfg.py')
    cfg.dump(cfg_file)
    path = export_onnx(cfg_file, ckpt, str(tmp_path / 'peak.onnx'), input_size=(256, 256),
                       score_thr=0.0, max_per_img=50)
    deployed = build_model(cfg_file, ckpt)
    assert deployed.head.one2one.peak is not None
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        outs = deployed.head.decode(deployed.head(deployed.extract_feat(x)))
        ref = deployed.head.select_topk(outs, 0.0, 50)[0]
        # the filter is live in the deployed model: zeroing it changes the scores
        off = copy.deepcopy(deployed)
        for seq in off.head.one2one.peak.layers:
            seq[-1].weight.zero_()
        ref_off = off.head.select_topk(off.head.decode(off.head(off.extract_feat(x))), 0.0, 50)[0]
    assert not torch.allclose(ref['scores'], ref_off['scores'])
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    dets, _ = sess.run(None, {'input': x.numpy()})
    n = len(ref['scores'])
    np.testing.assert_allclose(np.sort(dets[0][:, 4])[::-1][:n], np.sort(ref['scores'].numpy())[::-1],
                               atol=1e-4)
