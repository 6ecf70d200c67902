"""The interpolating boundary search: the same index as the brute-force grid on monotone
margins of every shape, a bounded number of calls on margins that carry no information,
and fewer calls than bisection on smooth ones; the float32 screen of certificate verdicts
agrees with float64, also when chunked; the clean slope is the hand-computed one on a
linear network; worker processes give the result of one; the brute-force grid is certify at
every grid point."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from certkit.analysis.interpolate import interpolate_grid
from certkit.analysis.max_eps import (
    bisect_grid,
    bisection_calls,
    brute_force_robust,
    eps_grid,
    max_robust_eps,
)
from certkit.analysis.verdicts import SCREEN_BAND, certify_verdict
from certkit.errors import CertkitError
from certkit.specs import LinfBall
from certkit.verify import certify

GRID = torch.linspace(0, 0.2, 4000, dtype=torch.float64)
ROOTS = torch.tensor([0.0123, 0.05, 0.0999, 0.15, 0.19995, 0.0, -1.0, 0.3], dtype=torch.float64)
Shape = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SHAPES: dict[str, Shape] = {
    "linear": lambda e, r: 5 * (r - e),
    # CROWN-like: flat below the root, steep above it
    "concave": lambda e, r: (r - e) * (1 + 400 * (e + r)) + 30 * (r * r - e * e),
    "convex": lambda e, r: torch.exp(-20 * e) - torch.exp(-20 * r),
    # a jump at the root and a kink below it
    "jump": lambda e, r: torch.where(e <= r, 0.5 + (r - e), -2 - 40 * (e - r))
    - 3 * (e - r / 2).clamp(min=0) * (e <= r),
    # sign only: interpolation learns nothing
    "sign": lambda e, r: torch.where(e <= r, 1.0, -1.0).to(torch.float64),
}


def _search(shape: Shape, hi: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
    calls: list[int] = []
    x = torch.arange(ROOTS.numel()).view(-1, 1).double()

    def margins(xb: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        calls.append(xb.shape[0])
        return shape(eps, ROOTS[xb[:, 0].long()])

    clean = shape(torch.zeros_like(ROOTS), ROOTS)
    eps = torch.full_like(ROOTS, 1e-7)
    slope = (shape(eps, ROOTS) - clean) / 1e-7
    return interpolate_grid(margins, x, GRID, clean, slope=slope, batch_size=3, hi=hi), calls


def _truth(shape: Shape) -> torch.Tensor:
    m = shape(GRID[None, :], ROOTS[:, None])
    return (m > 0).sum(1) - 1  # monotone: the last positive index


@pytest.mark.parametrize("name", list(SHAPES))
def test_interpolation_finds_the_brute_force_index(name: str) -> None:
    shape = SHAPES[name]
    truth = _truth(shape)
    assert int((truth >= 0).sum()) > 2 and int((truth == -1).sum()) >= 1
    idx, calls = _search(shape)
    assert idx.tolist() == truth.tolist()
    per_sample = sum(calls) / ROOTS.numel()
    assert per_sample <= 3 * bisection_calls(GRID.numel())  # the safeguard's bound
    # an attack bracket just above the root changes nothing but the cost
    hi = (truth + 1 + torch.arange(ROOTS.numel()) * 7).clamp(max=GRID.numel())
    idx_b, _ = _search(shape, hi)
    assert idx_b.tolist() == truth.tolist()


@pytest.mark.parametrize(("name", "share"), [("linear", 0.6), ("concave", 0.6), ("convex", 1.0)])
def test_interpolation_needs_fewer_calls_than_bisection_on_smooth_margins(name: str,
                                                                         share: float) -> None:
    shape = SHAPES[name]
    _, calls = _search(shape)
    bis: list[int] = []
    x = torch.arange(ROOTS.numel()).view(-1, 1).double()

    def verdict(xb: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        bis.append(xb.shape[0])
        return shape(eps, ROOTS[xb[:, 0].long()]) > 0

    assert bisect_grid(verdict, x, GRID).tolist() == _truth(shape).tolist()
    assert sum(calls) <= share * sum(bis)  # tuned for concave margins, like CROWN's


def _net() -> nn.Sequential:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 16),
                        nn.ReLU(), nn.Linear(16, 4)).eval()
    with torch.no_grad():
        net[1].weight.mul_(6.0)
    return net


def _x(n: int = 20) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(5))


def test_mixed_precision_verdicts_are_the_float64_verdicts() -> None:
    net, x = _net(), _x()
    exact = certify_verdict(net, "crown", precision="float64")
    mixed = certify_verdict(net, "crown", precision="mixed")
    radius = max_robust_eps(net, x, "crown", grid=eps_grid(0.3, 3001),
                            precision="float64").eps
    # right at every sample's boundary, and at random eps
    for eps in (radius, radius + 1e-4, torch.rand(20, dtype=torch.float64) * 0.3):
        m64, m = exact.margins(x, eps), mixed.margins(x, eps)
        assert ((m64 > 0) == (m > 0)).all()
        with torch.no_grad():
            band = SCREEN_BAND * (1 + net(x).abs().amax(dim=1)).double()
        torch.testing.assert_close(m, m64, atol=float(band.max()), rtol=0)
    assert mixed.rechecked > 0 and mixed.screened > 0  # the band was used, not everything
    screened_only = m64.abs() > band
    assert bool(screened_only.any())


def test_clean_slope_of_a_linear_network_is_hand_computed() -> None:
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3, 3, bias=False)).eval()
    with torch.no_grad():
        lin[1].weight.copy_(torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 3.0, -1.0]]))
    x = torch.tensor([[[[0.5, 0.0, 1.0]]]])  # pixel 1 at the lower edge, pixel 2 at the top
    v = certify_verdict(lin, "crown")
    # logits (2.0, 0.0, -0.5): pred 0; rows f0-f1 = (2, -1, 1), f0-f2 = (1, -3, 2) with
    # margins 2.0 and 2.5; rates (only inward directions count at the edges):
    #   row 1: -|2| + min(-1, 0) - max(1, 0) = -4  -> root 2.0 / 4 = 0.5
    #   row 2: -|1| + min(-3, 0) - max(2, 0) = -6  -> root 2.5 / 6 = 0.41667 (first)
    # rescaled to the clean margin 2.0: slope = -2.0 / (2.5 / 6) = -4.8
    assert v.clean_margins(x).tolist() == [2.0]
    torch.testing.assert_close(v.clean_slopes(x), torch.tensor([-4.8], dtype=torch.float64))
    # CROWN on a linear network is exact: min(2 - 4 eps, 2.5 - 6 eps)
    eps = torch.tensor([0.01, 0.45], dtype=torch.float64)
    torch.testing.assert_close(v.margins(x.expand(2, -1, -1, -1), eps),
                               torch.tensor([1.96, -0.2], dtype=torch.float64),
                               atol=1e-6, rtol=0)


def test_interpolation_equals_brute_force_and_bisection_on_a_network() -> None:
    net, x = _net(), _x(24)
    grid = eps_grid(0.3, 61)
    brute = brute_force_robust(net, x, grid, "crown")
    fast = max_robust_eps(net, x, "crown", grid=grid)
    slow = max_robust_eps(net, x, "crown", grid=grid, search="bisection")
    assert fast.index.tolist() == (brute.sum(1) - 1).tolist() == slow.index.tolist()
    assert fast.calls < slow.calls


def test_worker_processes_give_the_same_radii() -> None:
    net, x = _net(), _x(24)
    grid = eps_grid(0.3, 301)
    one = max_robust_eps(net, x, "crown", grid=grid, bracket=True)
    two = max_robust_eps(net, x, "crown", grid=grid, bracket=True, workers=2)
    assert two.index.tolist() == one.index.tolist()
    assert two.calls > 0


def test_chunked_verdicts_recheck_all_unsure_samples_together() -> None:
    net, x = _net(), _x(20)
    eps = max_robust_eps(net, x, "crown", grid=eps_grid(0.3, 3001), precision="float64").eps
    exact = certify_verdict(net, "crown", precision="float64")
    whole = certify_verdict(net, "crown")
    chunked = certify_verdict(net, "crown", batch_size=3)
    m64, m_whole, m_chunked = exact.margins(x, eps), whole.margins(x, eps), chunked.margins(x, eps)
    assert ((m_chunked > 0) == (m64 > 0)).all() and ((m_whole > 0) == (m64 > 0)).all()
    torch.testing.assert_close(m_chunked, m_whole, atol=1e-5, rtol=0)
    assert chunked.rechecked == whole.rechecked > 0  # the same samples went to float64
    rechecked = (m_chunked - m64).abs() < 1e-12
    assert int(rechecked.sum()) >= chunked.rechecked  # ... and carry the float64 value
    with pytest.raises(CertkitError):
        certify_verdict(net, "crown", batch_size=0)


def test_brute_force_grid_is_one_certify_call_per_grid_point() -> None:
    net, x = _net(), _x(10)
    grid = eps_grid(0.3, 41)
    brute = brute_force_robust(net, x, grid, "crown", batch_size=7)
    for j in (0, 7, 20, 40):  # independently: certify every sample at one eps
        res = certify(net, x, None, LinfBall(x, float(grid[j])), method="crown")
        assert brute[:, j].tolist() == [r.robust for r in res]
    assert brute_force_robust(net, x, grid, "crown", workers=2).tolist() == brute.tolist()
