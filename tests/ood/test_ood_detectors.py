"""OOD detectors against hand computations, scipy, and a shared contract for all of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from torch import nn

from certkit.analysis.max_eps import eps_grid, max_robust_eps
from certkit.analysis.ood import (
    DETECTORS,
    MSP,
    ODIN,
    Certificate,
    Energy,
    Mahalanobis,
    make_detector,
    robust_precision,
)
from certkit.analysis.roc import detection_metrics
from certkit.errors import CertkitError


def _linear(w: list[list[float]], b: list[float]) -> nn.Sequential:
    lin = nn.Linear(len(w[0]), len(w))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
        lin.bias.copy_(torch.tensor(b))
    return nn.Sequential(nn.Flatten(), lin).double().eval()


W = [[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]]
B = [0.1, -0.2, 0.3]
X = torch.tensor([[0.2, 0.7], [0.9, 0.1], [0.5, 0.5]], dtype=torch.float64)


def _logits(x: torch.Tensor) -> np.ndarray:
    return x.numpy() @ np.array(W).T + np.array(B)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_msp_and_energy_by_hand() -> None:
    model = _linear(W, B)
    z = _logits(X)
    np.testing.assert_allclose(MSP(model)(X).numpy(), -_softmax(z).max(1))
    for t in (1.0, 2.5):
        want = -t * np.log(np.exp(z / t).sum(1))  # Energy = -T logsumexp(f / T)
        np.testing.assert_allclose(Energy(model, temperature=t)(X).numpy(), want)


def test_odin_by_hand() -> None:
    model, t, m = _linear(W, B), 10.0, 0.01
    z = _logits(X)
    np.testing.assert_allclose(ODIN(model, temperature=t, magnitude=0.0)(X).numpy(),
                               -_softmax(z / t).max(1))
    # grad_x log S_yhat(x; T) = (w_yhat - sum_k p_k w_k) / T for a linear model
    p = _softmax(z / t)
    yhat = z.argmax(1)
    w = np.array(W)
    grad = (w[yhat] - p @ w) / t
    x_tilde = np.clip(X.numpy() + m * np.sign(grad), 0, 1)
    want = -_softmax(_logits(torch.from_numpy(x_tilde)) / t).max(1)
    np.testing.assert_allclose(ODIN(model, temperature=t, magnitude=m)(X).numpy(), want)


def _gaussians(n: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    cov = torch.tensor([[0.010, 0.006], [0.006, 0.020]], dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    y = torch.arange(n) % 2
    means = torch.tensor([[0.3, 0.35], [0.7, 0.6]], dtype=torch.float64)
    x = means[y] + torch.randn(n, 2, generator=g, dtype=torch.float64) @ chol.T
    return x, y


def test_mahalanobis_on_a_2d_gaussian_problem() -> None:
    x, y = _gaussians()
    model = _linear(W[:2], B[:2])  # features = penultimate = the input itself
    det = Mahalanobis(model).fit((x, y))
    xn, yn = x.numpy(), y.numpy()
    mu = np.stack([xn[yn == c].mean(0) for c in (0, 1)])
    centred = xn - mu[yn]
    prec = np.linalg.inv(centred.T @ centred / len(xn))
    q = np.array([[0.5, 0.5], [0.1, 0.9], [0.3, 0.35]])
    want = [min(scipy_mahalanobis(v, mu[c], prec) ** 2 for c in (0, 1)) for v in q]
    np.testing.assert_allclose(det(torch.from_numpy(q)).numpy(), want, rtol=1e-9)
    # preprocessing: one signed step against the gradient 2 P (x - mu_c) of the closest class
    m = 0.02
    pre = Mahalanobis(model, magnitude=m).fit((x, y))
    qs = []
    for v in q:
        c = min((0, 1), key=lambda k: scipy_mahalanobis(v, mu[k], prec))
        qs.append(np.clip(v - m * np.sign(2 * prec @ (v - mu[c])), 0, 1))
    want = [min(scipy_mahalanobis(v, mu[c], prec) ** 2 for c in (0, 1)) for v in qs]
    np.testing.assert_allclose(pre(torch.from_numpy(q)).numpy(), want, rtol=1e-9)
    # in-distribution points score lower than far-away ones
    far = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    assert float(det(far).min()) > float(det(x[:50]).median())


def test_mahalanobis_never_fails_on_singular_covariance() -> None:
    g = torch.Generator().manual_seed(1)
    base = torch.rand(5, 2, generator=g, dtype=torch.float64)
    # features: a constant, a duplicate, and fewer samples than dimensions in one case
    feats = torch.cat([base, torch.full((5, 1), 0.5, dtype=torch.float64), base[:, :1]], 1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()
    for data in ((feats, torch.tensor([0, 1, 0, 1, 0])),
                 (feats[:2], torch.tensor([0, 1])),
                 (torch.zeros(4, 4, dtype=torch.float64), torch.tensor([0, 0, 1, 1]))):
        det = Mahalanobis(net, magnitude=0.01).fit(data)
        s = det(feats)
        assert s.shape == (5,) and bool(torch.isfinite(s).all())
    p = robust_precision(torch.zeros(3, 3))
    assert bool(torch.isfinite(p).all()) and float(p.abs().max()) == 0.0
    # a regular matrix: the plain inverse
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(robust_precision(a), torch.linalg.inv(a))


def test_certificate_detector_is_minus_the_certified_radius() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        net[1].weight.mul_(8)
    x = torch.rand(10, 1, 2, 2)
    det = Certificate(net, method="ibp", eps_max=0.2, points=41)  # with the PGD bracket
    r = max_robust_eps(net, x, "ibp", grid=eps_grid(0.2, 41))  # without
    torch.testing.assert_close(det(x), -r.radius().double())
    two = Certificate(net, method="ibp", eps_max=0.2, points=41, workers=2)
    torch.testing.assert_close(two(x), -r.radius().double())
    with pytest.raises(CertkitError):
        Certificate(net, workers=0)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_follows_the_contract(name: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 2, 2, generator=g) * 0.3
    y = (x.flatten(1).sum(1) > 0.3).long()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    kwargs = {"points": 41, "method": "ibp"} if name == "certificate" else {}
    det = make_detector(name, net, batch_size=64, **kwargs)
    if det.needs_fit:
        with pytest.raises(CertkitError):
            det(x)
    det.fit((x, y))
    s_id = det(x[:60])
    assert s_id.shape == (60,) and s_id.dtype == torch.float64
    assert bool(torch.isfinite(s_id).all())
    assert torch.equal(s_id, det(x[:60]))  # deterministic
    assert net.training is False
    assert det.title and det.paper and isinstance(repr(det), str)
    with pytest.raises(CertkitError):
        det(torch.tensor(1.0))


def test_bad_detector_settings() -> None:
    net = _linear(W, B)
    with pytest.raises(CertkitError):
        make_detector("nosuch", net)
    with pytest.raises(CertkitError):
        Energy(net, temperature=0)
    with pytest.raises(CertkitError):
        ODIN(net, magnitude=-1)
    with pytest.raises(CertkitError):
        Mahalanobis(net).fit(X)  # no labels
    assert detection_metrics([0.0], [1.0])["auroc"] == 1.0
