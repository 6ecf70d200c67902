"""Soundness: for every method and layer family, no point of the set escapes the bounds.

Hypothesis draws random networks, boxes and specification matrices; every case checks at
least 1,000 points per sample (box corners, uniform points, and points that sign-gradient
ascent pushed to the maximum and minimum of every bounded output row) against the output
bounds, and the sampled values of every intermediate node against its bounds.
"""

from __future__ import annotations

import pytest
import torch
from bound_helpers import (
    DT,
    FAMILIES,
    assert_contains,
    make_net,
    node_values,
    outputs,
    rand_box,
    sample_points,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from certkit.bounds import compute_bounds, method_names, propagate
from certkit.models import Clip
from certkit.specs import AffineSet, L2Ball, Lifted

METHODS = method_names()
SETTINGS = settings(max_examples=5, deadline=None, derandomize=True, database=None)


def _check_nodes(result, pts: torch.Tensor, what: str) -> None:  # noqa: ANN001
    n, b = pts.shape[:2]
    with torch.no_grad():
        vals = node_values(result.graph, pts.reshape(-1, *pts.shape[2:]))
    for i, (lo, hi) in result.nodes.items():
        v = vals[i].reshape(n, b, -1)
        assert_contains(lo.reshape(b, -1), hi.reshape(b, -1), v, f"{what} node {i}")


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.02, 0.6), rows=st.integers(0, 3))
def test_every_method_bounds_every_point_of_a_box(family: str, seed: int, eps: float,
                                                   rows: int) -> None:
    net, shape = make_net(family, seed)
    lo, hi = rand_box(shape, 2, eps, seed)
    C = None
    if rows:
        g = torch.Generator().manual_seed(seed)
        C = torch.randn(2, rows, 3, generator=g, dtype=DT)
    pts = sample_points(net, lo, hi, C, seed=seed)
    assert pts.shape[0] >= 1000
    vals = outputs(net, pts, C)
    for method in METHODS:
        lb, ub = compute_bounds(net, lo, hi, method=method, C=C)
        assert lb.shape == ub.shape == vals.shape[1:]
        assert_contains(lb, ub, vals, f"{family}/{method}")
    for method in ("ibp", "crown", "rsip-ssip", "ssip"):
        res = propagate(net, Lifted(lo, hi, (lo + hi) / 2), method=method)
        _check_nodes(res, pts, f"{family}/{method}")


def _spec_pgd(net: torch.nn.Module, spec: L2Ball, C: torch.Tensor, seed: int) -> torch.Tensor:
    """Projected normalised-gradient ascent/descent on every row of C inside an L2 ball."""
    g = torch.Generator().manual_seed(seed)
    found = []
    m = C.shape[1]
    for sign in (1.0, -1.0):
        x = torch.stack([spec.random_start(g) for _ in range(m)])
        for t in range(30):
            x = x.detach().requires_grad_(True)
            y = torch.einsum("bmk,nbk->nbm", C, net(x.flatten(0, 1)).view(m, x.shape[1], -1))
            (grad,) = torch.autograd.grad(sign * y[torch.arange(m), :, torch.arange(m)].sum(), x)
            norm = grad.flatten(2).norm(dim=2).clamp_min(1e-12).view(*grad.shape[:2], 1, 1, 1)
            moved = x + spec.eps * 0.5 ** (t / 6) * grad / norm
            x = torch.stack([spec.project(xi) for xi in moved])
        found.append(x.detach())
    return torch.cat(found)


@pytest.mark.parametrize("family", ["mlp", "conv", "residual"])
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.1, 1.5))
def test_l2_ball_bounds_hold(family: str, seed: int, eps: float) -> None:
    net, shape = make_net(family, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, *shape, generator=g, dtype=DT)
    spec = L2Ball(x, eps)
    C = torch.randn(2, 2, 3, generator=g, dtype=DT)
    pts = torch.cat([spec.sample(1000, g), _spec_pgd(net, spec, C, seed)])
    assert all(bool(spec.contains(p, tol=1e-9).all()) for p in pts)
    vals = outputs(net, pts, C)
    for method in METHODS:
        res = propagate(net, spec, method=method, C=C)
        assert_contains(res.lower, res.upper, vals, f"l2 {family}/{method}")


class _CoeffNet(torch.nn.Module):
    """``a -> net(center + G a)`` for coefficient batches of any multiple of the spec's B."""

    def __init__(self, spec: AffineSet, net: torch.nn.Module) -> None:
        super().__init__()
        self.spec, self.net = spec, net

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        b, k = self.spec.coeff_lower.shape
        a = a.reshape(-1, b, k)
        x = self.spec.center.flatten(1) + torch.einsum("bnk,mbk->mbn", self.spec.generators, a)
        return self.net(x.reshape(-1, *self.spec.center.shape[1:]))


@pytest.mark.parametrize("clip", [False, True])
@SETTINGS
@given(seed=st.integers(0, 10**6), k=st.integers(1, 4), width=st.floats(0.05, 0.8))
def test_affine_sets_are_bounded_over_their_coefficients(clip: bool, seed: int, k: int,
                                                         width: float) -> None:
    net, shape = make_net("conv", seed)
    if clip:
        net = torch.nn.Sequential(Clip(), net)
    g = torch.Generator().manual_seed(seed)
    b = 2
    center = torch.rand(b, *shape, generator=g, dtype=DT)
    gens = torch.randn(b, *shape, k, generator=g, dtype=DT) * 0.5
    lo = -width * torch.rand(b, k, generator=g, dtype=DT)
    hi = width * torch.rand(b, k, generator=g, dtype=DT)
    spec = AffineSet(center, gens, lo, hi)
    C = torch.randn(b, 2, 3, generator=g, dtype=DT)
    # points of the coefficient box, including its corners and PGD in coefficient space
    coeff_net = _CoeffNet(spec, net)
    coeffs = sample_points(coeff_net, lo, hi, C, seed=seed)
    vals = outputs(coeff_net, coeffs, C)
    for method in METHODS:
        res = propagate(net, spec, method=method, C=C)
        assert_contains(res.lower, res.upper, vals, f"affine clip={clip} {method}")
