"""ReLU split constraints in the bound engine, and beta-CROWN's multipliers for them.

Truth: sampled points of the box that satisfy the splits (the splits are the sign pattern
of a reference point on a random subset of neurons, so the subdomain is never empty), a
hand-computed one-neuron case, and the dense CROWN reference of ``test_crown_reference``
with the split neurons' bounds clamped, on the same subdomains.
"""

from __future__ import annotations

import pytest
import torch
from bound_helpers import (
    DT,
    FAMILIES,
    TOL,
    assert_contains,
    make_net,
    node_values,
    rand_box,
    sample_points,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crown_reference import dense_affine_maps, random_conv, random_mlp, reference_crown
from torch import nn

from certkit.bounds import (
    BoundOptions,
    build_graph,
    compute_bounds,
    get_method,
    method_names,
    propagate,
)
from certkit.bounds.graph import Graph
from certkit.errors import CertkitError
from certkit.specs import Box

SPLIT_METHODS = [m for m in method_names() if get_method(m).splits]
SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None)


def _splits(graph: Graph, ref: torch.Tensor, share: float,
            gen: torch.Generator) -> list[torch.Tensor]:
    """The sign pattern of ``ref`` (B, *shape) on a random ``share`` of each ReLU's inputs."""
    vals = node_values(graph, ref)
    out = []
    for i in graph.relu_nodes:
        z = vals[graph.nodes[i].inputs[0]]
        pick = torch.rand(z.shape, generator=gen, dtype=DT) < share
        out.append(torch.where(pick, torch.sign(z), torch.zeros_like(z)).to(torch.int8))
    return out


def _satisfied(graph: Graph, x: torch.Tensor, splits: list[torch.Tensor]) -> torch.Tensor:
    """Which points (n, B, *shape) satisfy every split of their sample: (n, B)."""
    n, b = x.shape[:2]
    vals = node_values(graph, x.reshape(n * b, *x.shape[2:]))
    ok = torch.ones(n, b, dtype=torch.bool)
    for i, s in zip(graph.relu_nodes, splits, strict=True):
        z = vals[graph.nodes[i].inputs[0]].reshape(n, b, -1)
        s = s.reshape(1, b, -1)
        ok &= ((s == 0) | ((s > 0) & (z >= 0)) | ((s < 0) & (z <= 0))).all(dim=2)
    return ok


@pytest.mark.parametrize("family", FAMILIES)
@SETTINGS
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.5), share=st.floats(0.1, 0.6))
def test_bounds_hold_on_the_points_that_satisfy_the_splits(family: str, seed: int, eps: float,
                                                           share: float) -> None:
    net, shape = make_net(family, seed)
    lo, hi = rand_box(shape, 2, eps, seed)
    gen = torch.Generator().manual_seed(seed)
    graph = build_graph(net, (lo + hi) / 2)
    ref = lo + torch.rand(lo.shape, generator=gen, dtype=DT) * (hi - lo)
    splits = _splits(graph, ref, share, gen)
    near = ref + 0.05 * (hi - lo) * torch.randn(300, *lo.shape, generator=gen, dtype=DT)
    pts = torch.cat([ref[None], torch.minimum(torch.maximum(near, lo), hi),
                     sample_points(net, lo, hi, None, seed=seed)])
    keep = _satisfied(graph, pts, splits)
    assert bool(keep[0].all())
    with torch.no_grad():
        ys = net(pts.reshape(-1, *shape)).reshape(pts.shape[0], 2, -1)
    opts = BoundOptions(alpha_iterations=5, beta_iterations=5)
    for method in SPLIT_METHODS:
        lb, ub = compute_bounds(net, lo, hi, method=method, splits=splits, options=opts)
        for s in range(2):  # each sample's points that satisfy its splits
            assert_contains(lb[s:s + 1], ub[s:s + 1], ys[keep[:, s], s][:, None],
                            f"{family} {method} sample {s}")


@pytest.mark.parametrize("family", ["mlp", "conv", "residual"])
@SETTINGS
@given(seed=st.integers(0, 10**6), share=st.floats(0.1, 0.6))
def test_beta_is_never_looser_than_alpha_on_the_same_subdomain(family: str, seed: int,
                                                               share: float) -> None:
    net, shape = make_net(family, seed)
    lo, hi = rand_box(shape, 3, 0.3, seed)
    gen = torch.Generator().manual_seed(seed)
    graph = build_graph(net, (lo + hi) / 2)
    ref = lo + torch.rand(lo.shape, generator=gen, dtype=DT) * (hi - lo)
    splits = _splits(graph, ref, share, gen)
    opts = BoundOptions(alpha_iterations=8, beta_iterations=8)
    bounds = {m: compute_bounds(net, lo, hi, method=m, splits=splits, options=opts)
              for m in ("crown-tight", "alpha-crown", "beta-crown")}
    for weaker in ("alpha-crown",):
        assert bool((bounds["beta-crown"][0] >= bounds[weaker][0] - TOL).all())
        assert bool((bounds["beta-crown"][1] <= bounds[weaker][1] + TOL).all())
    no_splits = compute_bounds(net, lo, hi, method="beta-crown", options=opts)
    alpha = compute_bounds(net, lo, hi, method="alpha-crown", options=opts)
    assert torch.equal(no_splits[0], alpha[0]) and torch.equal(no_splits[1], alpha[1])


def test_beta_makes_a_split_neuron_exact() -> None:
    """``y = relu(x)`` on [-1, 1] with ``x >= 0``: the least ``y`` is 0. CROWN, which keeps
    the split neuron's exact ``y = x`` but not the constraint, gives -1; with beta,
    ``y >= x - beta x`` is minimised over the box at ``-|1 - beta|``, which tends to 0."""
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU()).to(DT)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.zero_()
    lo, hi = torch.full((1, 1), -1.0, dtype=DT), torch.ones(1, 1, dtype=DT)
    up = [torch.ones(1, 1, dtype=torch.int8)]
    crown = compute_bounds(net, lo, hi, method="crown", splits=up)
    assert crown[0].item() == pytest.approx(-1.0) and crown[1].item() == pytest.approx(1.0)
    opts = BoundOptions(beta_iterations=40, beta_lr=0.3)
    beta = compute_bounds(net, lo, hi, method="beta-crown", splits=up, options=opts)
    assert -0.05 < beta[0].item() <= 0.0 and beta[1].item() == pytest.approx(1.0)
    down = compute_bounds(net, lo, hi, method="crown", splits=[-up[0]])
    assert down[0].item() == 0.0 and down[1].item() == 0.0  # the neuron is off: y = 0
    on_input = compute_bounds(net[1:], lo, hi, method="crown", splits=up)  # shrinks the box
    assert on_input[0].item() == 0.0 and on_input[1].item() == 1.0


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@settings(max_examples=5, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10**6), share=st.floats(0.1, 0.6))
def test_exact_crown_under_splits_equals_the_dense_reference(kind: str, seed: int,
                                                             share: float) -> None:
    """``crown`` under splits is CROWN with the split neurons' bounds clamped to their side,
    as the dense reference of ``test_crown_reference`` computes it, layer by layer."""
    net = random_mlp(seed % 1000, (4, 6, 6, 6, 3), 1.0) if kind == "mlp" else \
        random_conv(seed % 1000)
    shape = (4,) if kind == "mlp" else (2, 7, 7)
    maps = dense_affine_maps(net, shape)
    gen = torch.Generator().manual_seed(seed)
    lo = torch.rand(2, *shape, generator=gen, dtype=DT) - 0.5
    hi = lo + 0.6 * torch.rand(2, *shape, generator=gen, dtype=DT)
    graph = build_graph(net, lo)
    splits = _splits(graph, lo + (hi - lo) * torch.rand(lo.shape, generator=gen, dtype=DT),
                     share, gen)
    C = torch.randn(2, 3, maps[-1][0].shape[0], generator=gen, dtype=DT)
    res = propagate(net, Box(lo, hi), method="crown", C=C, splits=splits)
    for b in range(2):
        flat = [s[b].flatten() for s in splits]
        pre, ref_lo, ref_hi = reference_crown(maps, lo[b].flatten(), hi[b].flatten(), C[b],
                                              flat)
        torch.testing.assert_close(res.lower[b], ref_lo, rtol=0, atol=1e-9)
        torch.testing.assert_close(res.upper[b], ref_hi, rtol=0, atol=1e-9)
        for (_, pl, pu), (rl, ru) in zip(res.pre_activation_bounds(), pre, strict=True):
            torch.testing.assert_close(pl[b].flatten(), rl, rtol=0, atol=1e-9)
            torch.testing.assert_close(pu[b].flatten(), ru, rtol=0, atol=1e-9)


def test_split_arguments_are_checked() -> None:
    net, shape = make_net("mlp", 0)
    lo, hi = rand_box(shape, 2, 0.1, 0)
    good = [torch.zeros(2, 7), torch.zeros(6)]  # per sample, or shared by the batch
    compute_bounds(net, lo, hi, method="crown", splits=good)
    with pytest.raises(CertkitError, match="one tensor per ReLU"):
        compute_bounds(net, lo, hi, method="crown", splits=good[:1])
    with pytest.raises(CertkitError, match="shape"):
        compute_bounds(net, lo, hi, method="crown", splits=[torch.zeros(2, 6), good[1]])
    with pytest.raises(CertkitError, match="split constraints"):
        compute_bounds(net, lo, hi, method="ssip", splits=good)


class _TwoRelusOnOneNode(nn.Module):
    """``relu(z) - relu(z)`` for ``z = W x``: two ReLUs read the same pre-activation node."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.a, self.b = nn.Linear(2, 3), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.lin(x)
        return self.a(z) - self.b(z)


def test_splits_of_relus_on_one_node_are_joined() -> None:
    """Splits given for either ReLU constrain the shared node; opposite signs are an error."""
    torch.manual_seed(0)
    net = _TwoRelusOnOneNode().to(DT)
    lo, hi = -torch.ones(1, 2, dtype=DT), torch.ones(1, 2, dtype=DT)
    graph = build_graph(net, lo)
    assert len(graph.relu_nodes) == 2
    first = torch.tensor([[1, 0, 0]], dtype=torch.int8)
    second = torch.tensor([[0, -1, 0]], dtype=torch.int8)
    res = propagate_nodes(net, lo, hi, [first, second])
    pre = graph.nodes[graph.relu_nodes[0]].inputs[0]
    low, up = res[pre]
    assert low[0, 0] >= 0 and up[0, 1] <= 0  # both splits clamp the shared node
    with pytest.raises(CertkitError, match="contradicts"):
        compute_bounds(net, lo, hi, method="crown", splits=[first, -first])


def propagate_nodes(net: nn.Module, lo: torch.Tensor, hi: torch.Tensor,
                    splits: list[torch.Tensor]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per-node bounds of ``crown`` over the box under ``splits``."""
    return propagate(net, Box(lo, hi), method="crown", splits=splits).nodes
