import math

import pytest
import torch

from erpose_mm.models.losses import SmoothOKSLoss, keypoint_similarity


@pytest.mark.parametrize('u,value,grad', [
    (0.5, math.exp(-0.125), -0.5 * math.exp(-0.125)),     # Gaussian side
    (1.0, math.exp(-0.5), -math.exp(-0.5)),               # junction
    (3.0, math.exp(-2.5), -math.exp(-2.5)),               # Laplace side
])
def test_soks_value_and_gradient(u, value, grad):
    t = torch.tensor([u], dtype=torch.float64, requires_grad=True)
    s = keypoint_similarity(t, 'soks')
    s.sum().backward()
    assert s.item() == pytest.approx(value, rel=1e-9)
    assert t.grad.item() == pytest.approx(grad, rel=1e-9)


def test_soks_is_c1_at_junction():
    eps = 1e-6
    lo = torch.tensor([1 - eps], dtype=torch.float64, requires_grad=True)
    hi = torch.tensor([1 + eps], dtype=torch.float64, requires_grad=True)
    slo, shi = keypoint_similarity(lo, 'soks'), keypoint_similarity(hi, 'soks')
    (slo + shi).sum().backward()
    assert slo.item() == pytest.approx(shi.item(), abs=1e-5)
    assert lo.grad.item() == pytest.approx(hi.grad.item(), abs=1e-5)


def test_soks_differs_from_gaussian_only_beyond_one():
    u = torch.linspace(0, 4, 81, dtype=torch.float64)
    soks, gauss, lap = (keypoint_similarity(u, m) for m in ('soks', 'gaussian', 'laplace'))
    assert torch.allclose(soks[u <= 1], gauss[u <= 1])
    assert torch.allclose(soks[u > 1], torch.exp(0.5 - u[u > 1]))
    # the Laplace tail gives more gradient than the Gaussian for large errors (paper Sec. III-C)
    assert (soks[u > 2] > gauss[u > 2]).all()
    assert torch.allclose(lap, torch.exp(-u))


def test_bad_mode_rejected():
    with pytest.raises(ValueError, match='mode'):
        SmoothOKSLoss(num_keypoints=3, mode='huber')


def _person(d, K=4):
    gt = torch.zeros(1, K, 2)
    pred = gt.clone()
    pred[..., 0] += d
    return pred, gt


def test_loss_matches_one_minus_oks_in_gaussian_mode():
    sigmas = [0.05, 0.1, 0.05, 0.1]
    loss = SmoothOKSLoss(sigmas=sigmas, mode='gaussian', loss_weight=1.0)
    pred, gt = _person(3.0)
    area = torch.tensor([400.0])  # s = 20
    vis = torch.ones(1, 4)
    k = 2 * torch.tensor(sigmas)
    oks = torch.exp(-(3.0 ** 2) / (2 * area * k ** 2)).mean()
    assert loss(pred, gt, vis, area).item() == pytest.approx(1 - oks.item(), rel=1e-5)


def test_loss_ignores_unlabelled_keypoints_and_weight():
    loss = SmoothOKSLoss(sigmas=[0.1] * 4, loss_weight=15.0)
    gt = torch.zeros(1, 4, 2)
    pred = gt.clone()
    pred[0, 3] = 100.0  # only the unlabelled keypoint is wrong
    vis = torch.tensor([[2.0, 1.0, 2.0, 0.0]])
    assert loss(pred, gt, vis, torch.tensor([100.0])).item() == pytest.approx(0.0, abs=1e-4)
    vis[0, 3] = 2
    assert loss(pred, gt, vis, torch.tensor([100.0])).item() > 15.0 * 0.2


def test_empty_input_is_finite_zero_with_graph():
    loss = SmoothOKSLoss(sigmas=[0.1] * 4)
    pred = torch.zeros(0, 4, 2, requires_grad=True)
    out = loss(pred, torch.zeros(0, 4, 2), torch.zeros(0, 4), torch.zeros(0))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(out)


def test_default_k_is_one_over_K():
    loss = SmoothOKSLoss(num_keypoints=5)
    assert torch.allclose(2 * loss.sigmas, torch.full((5,), 1 / 5))
