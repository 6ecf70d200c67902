"""The bound step of ReLU branch and bound (``certkit.bounds.subdomains``).

Truth: sampled points of the box that satisfy a subdomain's splits (the splits are the sign
pattern of a reference point, so no subdomain is empty), the engine's own ``crown`` method
on the same intermediate bounds, and a re-evaluation of the returned warm-start state.
"""

from __future__ import annotations

import pytest
import torch
from bound_helpers import DT, TOL, make_net, node_values
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from certkit.bounds import build_graph, compute_bounds, propagate
from certkit.bounds.subdomains import SubdomainBounder
from certkit.errors import CertkitError
from certkit.specs import Box

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None)
FAMILIES = ["mlp", "conv", "pool", "residual"]


def _setup(family: str, seed: int, eps: float, n: int, share: float):  # noqa: ANN202
    """A net, its box (1, *shape), a bounder, N subdomains (the sign patterns of N reference
    points on a random ``share`` of the neurons) and the points of the box that satisfy
    each (a list of N tensors)."""
    net, shape = make_net(family, seed)
    gen = torch.Generator().manual_seed(seed)
    centre = torch.rand(1, *shape, generator=gen, dtype=DT)
    lo, hi = centre - eps, centre + eps
    bounder = SubdomainBounder(net, lo, hi)
    graph = bounder.graph
    refs = lo + torch.rand(n, *shape, generator=gen, dtype=DT) * (hi - lo)
    vals = node_values(graph, refs)
    splits = []
    for p in bounder.pre:
        z = vals[p].reshape(n, -1)
        pick = torch.rand(z.shape, generator=gen, dtype=DT) < share
        splits.append(torch.where(pick, torch.sign(z), torch.zeros_like(z)).to(torch.int8))
    pts = lo + torch.rand(3000, *shape, generator=gen, dtype=DT) * (hi - lo)
    near = refs.repeat(100, *[1] * len(shape))
    near = near + 0.1 * eps * torch.randn(near.shape, generator=gen, dtype=DT)
    pts = torch.cat([refs, torch.minimum(torch.maximum(near, lo), hi), pts])
    pv = node_values(graph, pts)
    inside = []
    for k in range(n):
        ok = torch.ones(pts.shape[0], dtype=torch.bool)
        for p, s in zip(bounder.pre, splits, strict=True):
            z, sk = pv[p].reshape(pts.shape[0], -1), s[k][None]
            ok &= ((sk == 0) | ((sk > 0) & (z >= 0)) | ((sk < 0) & (z <= 0))).all(dim=1)
        assert bool(ok[k])  # the reference point itself
        inside.append(pts[ok])
    C = torch.randn(4, graph.nodes[graph.output].numel, generator=gen, dtype=DT)
    return net, bounder, splits, inside, C


def _random_state(bounder: SubdomainBounder, n: int, m: int, gen: torch.Generator):  # noqa: ANN202
    """Any slopes in [0, 1] and multipliers >= 0 give sound bounds."""
    alphas = [torch.rand(n, m, s, generator=gen, dtype=DT) for s in bounder.sizes]
    betas = [torch.rand(n, m, s, generator=gen, dtype=DT) * 2 for s in bounder.sizes]
    return alphas, betas


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.4), share=st.floats(0.1, 0.7),
       iterations=st.sampled_from([0, 4]), refresh=st.booleans(), warm=st.booleans())
def test_subdomain_bounds_hold_on_the_points_that_satisfy_the_splits(
        family: str, seed: int, eps: float, share: float, iterations: int, refresh: bool,
        warm: bool) -> None:
    net, bounder, splits, inside, C = _setup(family, seed, eps, 3, share)
    root = bounder.root_bounds(iterations=3)
    for pts in inside:  # the root's bounds hold on the whole box
        vals = node_values(bounder.graph, pts)
        for p, (lo, hi) in zip(bounder.pre, root, strict=True):
            z = vals[p].reshape(pts.shape[0], -1)
            assert bool((z >= lo - TOL).all() and (z <= hi + TOL).all()), family
    init = _random_state(bounder, 3, C.shape[0], torch.Generator().manual_seed(seed)) \
        if warm else None
    res = bounder.bound(splits, C, root, iterations=iterations,
                        refresh_from=0 if refresh else None, init=init)
    for k, pts in enumerate(inside):
        with torch.no_grad():
            ys = net(pts) @ C.T
        assert bool((ys >= res.lower[k] - TOL).all()), (family, k)
        vals = node_values(bounder.graph, pts)
        for p, (lo, hi) in zip(bounder.pre, res.pre_bounds, strict=True):
            z = vals[p].reshape(pts.shape[0], -1)
            assert bool((z >= lo[k] - TOL).all() and (z <= hi[k] + TOL).all()), (family, k)


@pytest.mark.parametrize("family", FAMILIES)
def test_given_crown_bounds_give_crown(family: str) -> None:
    """Without splits and optimisation, from CROWN's own intermediate bounds, the bound is
    the ``crown`` method's to rounding."""
    net, bounder, splits, _, C = _setup(family, 3, 0.2, 2, 0.0)
    res = propagate(net, Box(bounder.lower, bounder.upper), method="crown")
    given_ = [(res.nodes[p][0].reshape(1, -1), res.nodes[p][1].reshape(1, -1))
              for p in bounder.pre]
    got = bounder.bound([torch.zeros_like(s) for s in splits], C, given_).lower
    want, _ = compute_bounds(net, bounder.lower, bounder.upper, method="crown", C=C[None],
                             which="lower")
    assert torch.allclose(got, want.expand_as(got), atol=1e-10, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_warm_start_state_reproduces_the_optimised_bound(family: str) -> None:
    """The returned state is each row's best iterate: bounding again from it, without
    optimisation, gives the same bounds; and optimising never loosens the start."""
    _, bounder, splits, _, C = _setup(family, 5, 0.3, 4, 0.4)
    root = bounder.root_bounds(iterations=2)
    start = bounder.bound(splits, C, root)
    opt = bounder.bound(splits, C, root, iterations=8)
    assert bool((opt.lower >= start.lower - TOL).all())
    again = bounder.bound(splits, C, root, init=opt.state)
    assert torch.allclose(again.lower, opt.lower, atol=1e-10, rtol=0)
    more = bounder.bound(splits, C, root, iterations=4, init=opt.state)
    assert bool((more.lower >= opt.lower - TOL).all())


def test_the_state_shapes_and_ranges() -> None:
    _, bounder, splits, _, C = _setup("mlp", 7, 0.3, 3, 0.5)
    res = bounder.bound(splits, C, bounder.root_bounds(), iterations=5)
    for a, b, s, rows in zip(*res.state, bounder.sizes, res.relu_rows, strict=True):
        assert a.shape == b.shape == rows.shape == (3, C.shape[0], s)
        assert bool((a >= 0).all() and (a <= 1).all() and (b >= 0).all())
    for b, s in zip(res.state[1], splits, strict=True):  # multipliers only on split neurons
        assert bool((b[(s == 0)[:, None].expand_as(b)] == 0).all())
    assert res.input_rows.shape == (3, C.shape[0], bounder.lower.numel())


class _TwoReadersOfOneNode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(x)
        return torch.relu(z) + torch.relu(z)


def test_two_relus_on_one_node_are_refused() -> None:
    lo = torch.zeros(1, 3, dtype=DT)
    assert len(build_graph(_TwoReadersOfOneNode(), lo).relu_nodes) == 2
    with pytest.raises(CertkitError, match="node of its own"):
        SubdomainBounder(_TwoReadersOfOneNode().eval(), lo, lo + 1)
