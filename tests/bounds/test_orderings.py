"""Orderings between methods that must hold on every network and box."""

from __future__ import annotations

import pytest
import torch
from bound_helpers import FAMILIES, make_net, rand_box
from hypothesis import given, settings
from hypothesis import strategies as st

from certkit.bounds import BoundOptions, compute_bounds, propagate
from certkit.specs import Box

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, database=None)
EPS = 1e-12


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.6))
def test_alpha_crown_is_never_looser_than_crown(family: str, seed: int, eps: float) -> None:
    net, shape = make_net(family, seed)
    lo, hi = rand_box(shape, 3, eps, seed)
    c_lo, c_hi = compute_bounds(net, lo, hi, method="crown")
    a_lo, a_hi = compute_bounds(net, lo, hi, method="alpha-crown",
                                options=BoundOptions(alpha_iterations=8))
    assert bool((a_lo >= c_lo - EPS).all()) and bool((a_hi <= c_hi + EPS).all())


def test_alpha_crown_improves_somewhere() -> None:
    net, shape = make_net("mlp", 11)
    lo, hi = rand_box(shape, 8, 0.5, 11)
    c_lo, c_hi = compute_bounds(net, lo, hi, method="crown")
    a_lo, a_hi = compute_bounds(net, lo, hi, method="alpha-crown")
    assert float((a_hi - a_lo).sum().detach()) < float((c_hi - c_lo).sum().detach()) - 1e-6


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.6))
def test_rsip_ssip_intermediate_bounds_are_inside_ibp(family: str, seed: int, eps: float) -> None:
    net, shape = make_net(family, seed)
    lo, hi = rand_box(shape, 3, eps, seed)
    ibp = propagate(net, Box(lo, hi), method="ibp").nodes
    for method in ("rsip-ssip", "crown-tight"):
        res = propagate(net, Box(lo, hi), method=method)
        for name, pl, pu in res.pre_activation_bounds():
            i = next(n.index for n in res.graph.nodes if n.name == name)
            assert bool((pl >= ibp[i][0] - EPS).all()), (method, name)
            assert bool((pu <= ibp[i][1] + EPS).all()), (method, name)


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.01, 0.5), shrink=st.floats(0.0, 1.0))
def test_ibp_bounds_shrink_with_eps(family: str, seed: int, eps: float, shrink: float) -> None:
    net, shape = make_net(family, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, *shape, generator=g, dtype=torch.float64)
    small, large = eps * shrink, eps
    s_lo, s_hi = compute_bounds(net, x - small, x + small, method="ibp")
    l_lo, l_hi = compute_bounds(net, x - large, x + large, method="ibp")
    assert bool((s_lo >= l_lo - EPS).all()) and bool((s_hi <= l_hi + EPS).all())
    z_lo, z_hi = compute_bounds(net, x, x, method="ibp")  # eps = 0: the point itself
    torch.testing.assert_close(z_lo, net(x).detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(z_hi, net(x).detach(), rtol=0, atol=1e-12)


def test_ibp_margin_bounds_fold_the_last_layer() -> None:
    """With a spec C, IBP folds C into the last Linear layer: never looser than bounding C
    over the output box, and strictly tighter for margins on a random net."""
    from certkit.bounds import compute_bounds
    from certkit.bounds.ibp import spec_interval

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = torch.rand(5, 4)
    lo, hi = x - 0.1, x + 0.1
    C = torch.tensor([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]).expand(5, 2, 3)
    folded = compute_bounds(net, lo, hi, method="ibp", C=C)
    out_lo, out_hi = compute_bounds(net, lo, hi, method="ibp")
    loose = spec_interval(out_lo, out_hi, C)
    assert bool((folded[0] >= loose[0] - 1e-6).all()) and bool((folded[1] <= loose[1] + 1e-6).all())
    assert bool((folded[0] > loose[0] + 1e-4).any())
    samples = lo + torch.rand(2000, 5, 4) * (hi - lo)
    margins = torch.einsum("bmn,sbn->sbm", C, net(samples))
    assert bool((margins >= folded[0] - 1e-5).all()) and bool((margins <= folded[1] + 1e-5).all())
