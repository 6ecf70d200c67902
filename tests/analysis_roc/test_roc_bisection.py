"""Max certifiable eps by bisection: exact against the brute-force grid, batched, bounded
by PGD, and the ROC from bisection equals the ROC from every grid point."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from certkit.analysis.max_eps import (
    bisect_grid,
    bisection_calls,
    brute_force_robust,
    eps_grid,
    max_certified_eps,
    max_robust_eps,
    monotonicity_violations,
)
from certkit.analysis.roc import certification_roc, roc_from_verdicts
from certkit.errors import CertkitError


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 20), nn.ReLU(), nn.Linear(20, 12),
                        nn.ReLU(), nn.Linear(12, 3)).eval()
    with torch.no_grad():  # a sensitive network: radii spread over the grid
        net[1].weight.mul_(12.0)
        net[1].bias.copy_(-net[1].weight.sum(1) / 2)
    return net


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(24, 1, 4, 4, generator=g), torch.randint(0, 3, (24,), generator=g)


def test_bisection_on_a_threshold_verdict_is_exact_and_logarithmic() -> None:
    grid = torch.linspace(0, 1, 4000, dtype=torch.float64)
    thresholds = torch.tensor([-0.5, 0.0, 0.3, 0.99999, 2.0], dtype=torch.float64)
    calls = []

    def verdict(xb: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        calls.append(xb.shape[0])
        return eps <= thresholds[xb[:, 0].long()]

    x = torch.arange(5).view(5, 1).double()
    idx = bisect_grid(verdict, x, grid)
    brute = (grid[None, :] <= thresholds[:, None]).sum(1) - 1
    assert idx.tolist() == brute.tolist()
    assert len(calls) == bisection_calls(4000) == 12  # one batched call per step


@pytest.mark.parametrize("method", ["ibp", "crown"])
def test_bisection_equals_brute_force_grid(method: str) -> None:
    model, (x, y) = _net(), _data()
    grid = eps_grid(0.12, 31)
    brute = brute_force_robust(model, x, grid, method)
    assert monotonicity_violations(brute) == 0
    r = max_robust_eps(model, x, method, grid=grid, batch_size=7)
    assert r.index.tolist() == (brute.sum(1) - 1).tolist()
    assert int((r.index >= 0).sum()) > 0 and int((r.index < 30).sum()) > 0  # non-trivial
    correct = r.pred == y
    a = certification_roc(r.radius(), correct, grid)
    b = roc_from_verdicts(brute, correct, grid)
    assert a.cc.tolist() == b.cc.tolist() and a.ci.tolist() == b.ci.tolist()
    assert a.auc() == b.auc()
    assert r.calls <= math.ceil(math.log2(32))


def test_pgd_bracket_gives_the_same_radii() -> None:
    model, (x, _) = _net(), _data()
    grid = eps_grid(0.12, 31)
    plain = max_robust_eps(model, x, "crown", grid=grid)
    fast = max_robust_eps(model, x, "crown", grid=grid, bracket=True)
    assert fast.index.tolist() == plain.index.tolist()
    assert fast.calls <= plain.calls and fast.attack_calls > 0


def test_attack_radius_is_an_upper_bound_and_certified_eps_zero_when_wrong() -> None:
    model, (x, y) = _net(), _data()
    grid = eps_grid(0.3, 61)
    cert = max_robust_eps(model, x, "crown", grid=grid)
    atk = max_robust_eps(model, x, "pgd", grid=grid, attack_steps=30)
    assert bool((atk.index >= cert.index).all())
    # an adversarial example really exists just above the attack radius
    assert int((atk.index < 60).sum()) > 0
    ce = max_certified_eps(model, x, y, "crown", eps_max=0.3, tol=0.3 / 60)
    wrong = cert.pred != y
    assert bool(wrong.any()) and bool((ce[wrong] == 0).all())
    torch.testing.assert_close(ce[~wrong], cert.eps[~wrong].clamp_min(0), atol=1e-12, rtol=0)


def test_bad_arguments() -> None:
    model, (x, y) = _net(), _data()
    with pytest.raises(CertkitError):
        max_robust_eps(model, x, "crown", eps_max=-1.0)
    with pytest.raises(CertkitError):
        max_robust_eps(model, x, "crown", grid=torch.tensor([0.2, 0.1]))
    with pytest.raises(CertkitError):
        max_robust_eps(model, x, "nosuch", eps_max=0.1, tol=0.05)
    with pytest.raises(CertkitError):
        max_certified_eps(model, x, y[:3], "crown")
