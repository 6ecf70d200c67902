"""The dense chain form (MILP and module), and the bound engine's input-splitting step on it:
forward symbolic intervals with back-substitution (``symbolic_intermediate``), batched."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from vc_helpers import chain_bounds

from certkit.bounds.subdomains import SubdomainBounder
from certkit.io.onnx_modules import ConstAffine
from certkit.verify.complete import bounders
from certkit.verify.complete.chain import Chain, extract_chain


def _box_problem(seed: int, width: int, depth: int) -> tuple[nn.Sequential, Chain, torch.Generator,
                                                             torch.Tensor, torch.Tensor]:
    """A random 2-input network, its chain, a seeded generator and a random box."""
    net = _net(seed, [2] + [width] * depth + [3])
    chain = extract_chain(net, 2)
    assert chain is not None
    gen = torch.Generator().manual_seed(seed)
    lo = torch.rand(2, generator=gen, dtype=torch.float64) - 1
    hi = lo + torch.rand(2, generator=gen, dtype=torch.float64) + 0.1
    return net, chain, gen, lo, hi


def _three_input_chain(seed: int, width: int, depth: int) -> tuple[Chain, torch.Generator]:
    """The chain of a random 3-input, 2-output network and a seeded generator."""
    chain = extract_chain(_net(seed, [3] + [width] * depth + [2]), 3)
    assert chain is not None
    return chain, torch.Generator().manual_seed(seed)


def _symbolic(chain: Chain, lo: torch.Tensor, hi: torch.Tensor,
              prior: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
              box: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The engine's symbolic intermediate bounds of boxes ``lo``/``hi`` (N, n_in) (inside
    ``box``, default: the boxes' hull), each (N, n_k)."""
    box = box or (lo.amin(0, keepdim=True), hi.amax(0, keepdim=True))
    engine = SubdomainBounder(chain.module(), *box)
    given = None if prior is None else list(zip(*prior, strict=True))
    C = torch.zeros(1, chain.biases[-1].shape[0], dtype=lo.dtype)
    res = engine.boxes(lo, hi, C, given)
    return [a for a, _ in res.pre_bounds], [b for _, b in res.pre_bounds]


def _net(seed: int, sizes: list[int]) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [ConstAffine(torch.rand(sizes[0]) + 0.5, torch.randn(sizes[0]))]
    for k, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double().eval()


def test_chain_matches_module_and_rejects_nonchains() -> None:
    net = _net(0, [3, 5, 4, 2])
    chain = extract_chain(net, 3)
    assert chain is not None and chain.hidden == [5, 4]
    x = torch.randn(10, 3, dtype=torch.float64)
    assert torch.allclose(chain.forward(x), net(x))
    assert extract_chain(nn.Sequential(nn.Linear(3, 2), nn.Sigmoid()).double(), 3) is None


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), width=st.integers(2, 8), depth=st.integers(1, 4),
       scale=st.floats(0.01, 2.0))
def test_forward_intermediate_is_sound_and_inside_interval_bounds(seed: int, width: int,
                                                                   depth: int,
                                                                   scale: float) -> None:
    """Forward bounds contain every sampled pre-activation, are exact on the first layer and
    never looser than interval arithmetic."""
    chain, gen = _three_input_chain(seed, width, depth)
    lo = torch.rand(5, 3, generator=gen, dtype=torch.float64) - 0.5
    hi = lo + scale * torch.rand(5, 3, generator=gen, dtype=torch.float64)
    lows, ups = _symbolic(chain, lo, hi)
    x = lo + (hi - lo) * torch.rand(3000, 5, 3, generator=gen, dtype=torch.float64)
    for z, low, up in zip(chain.pre_activations(x.reshape(-1, 3)), lows, ups, strict=True):
        z = z.reshape(3000, 5, -1)
        assert bool((z >= low - 1e-9).all()) and bool((z <= up + 1e-9).all())
    il, iu = lo, hi  # interval arithmetic, layer by layer
    for k, (w, b) in enumerate(zip(chain.weights[:-1], chain.biases[:-1], strict=True)):
        if k:
            il, iu = il.clamp(min=0), iu.clamp(min=0)
        mid, rad = (il + iu) / 2, (iu - il) / 2
        il, iu = mid @ w.T + b - rad @ w.abs().T, mid @ w.T + b + rad @ w.abs().T
        assert bool((lows[k] >= il - 1e-9).all()) and bool((ups[k] <= iu + 1e-9).all())
        if k == 0:
            assert lows[0].allclose(il) and ups[0].allclose(iu)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), width=st.integers(2, 8), depth=st.integers(2, 4))
def test_forward_intermediate_with_the_parents_bounds(seed: int, width: int, depth: int) -> None:
    """A sub-box bounded with its parent box's bounds as ``prior``: sound on samples and
    inside the prior; layer 1 (not back-substituted) equals full back-substitution."""
    chain, gen = _three_input_chain(seed, width, depth)
    lo = torch.rand(1, 3, generator=gen, dtype=torch.float64) - 0.5
    hi = lo + torch.rand(1, 3, generator=gen, dtype=torch.float64) + 0.1
    parent = _symbolic(chain, lo, hi)
    full = chain_bounds(chain, lo, hi)
    assert parent[0][1].allclose(full[0][1]) and parent[1][1].allclose(full[1][1])
    a = lo + (hi - lo) * torch.rand(4, 3, generator=gen, dtype=torch.float64)
    b = lo + (hi - lo) * torch.rand(4, 3, generator=gen, dtype=torch.float64)
    slo, shi = torch.minimum(a, b), torch.maximum(a, b)  # sub-boxes of the parent
    prior = ([x.expand(4, -1) for x in parent[0]], [x.expand(4, -1) for x in parent[1]])
    lows, ups = _symbolic(chain, slo, shi, prior, box=(lo, hi))
    x = slo + (shi - slo) * torch.rand(2000, 4, 3, generator=gen, dtype=torch.float64)
    zs = chain.pre_activations(x.reshape(-1, 3))
    for k, z in enumerate(zs):
        z = z.reshape(2000, 4, -1)
        assert bool((z >= lows[k] - 1e-9).all()) and bool((z <= ups[k] + 1e-9).all())
        assert bool((lows[k] >= prior[0][k] - 1e-12).all())
        assert bool((ups[k] <= prior[1][k] + 1e-12).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_batch_of_boxes_is_bounded_as_each_box_alone(seed: int) -> None:
    """Boxes of very different widths (so different numbers of unstable neurons, which the
    back-substitution batches separately) and more of them than one bound call takes: the
    batched forward bounds and the bounder's output bounds equal each box's bounds alone."""
    chain, gen = _three_input_chain(seed, 12, 4)
    n = 2 * bounders.CHUNK + 7
    lo = torch.rand(n, 3, generator=gen, dtype=torch.float64) - 0.5
    width = torch.logspace(-3, 0.5, n, dtype=torch.float64)[torch.randperm(n, generator=gen)]
    hi = lo + width[:, None] * torch.rand(n, 3, generator=gen, dtype=torch.float64)
    box = (lo.amin(0, keepdim=True), hi.amax(0, keepdim=True))
    lows, ups = _symbolic(chain, lo[:60], hi[:60], box=box)
    counts = sum(((a < 0) & (b > 0)).sum(1) for a, b in zip(lows, ups, strict=True))
    assert int(counts.min()) < int(counts.max())  # really mixed
    for i in range(60):
        one = _symbolic(chain, lo[i:i + 1], hi[i:i + 1], box=box)
        for a, b in zip(lows + ups, one[0] + one[1], strict=True):
            assert torch.allclose(a[i:i + 1], b, rtol=1e-12, atol=1e-12)
    C = torch.tensor([[1.0, -1.0], [0.0, 1.0]], dtype=torch.float64)
    module = chain.module()
    bounder = bounders.BoxBounder(module, box[0][0], box[1][0])
    lb = bounder.lower(lo, hi, C)
    assert lb.shape == (n, 2) and bounder.coefficients is not None
    assert bounder.intermediate is not None and bounder.intermediate[0].shape[0] == n
    for i in (0, bounders.CHUNK - 1, bounders.CHUNK, n - 1):
        alone = bounders.BoxBounder(module, box[0][0], box[1][0])
        assert torch.allclose(alone.lower(lo[i:i + 1], hi[i:i + 1], C), lb[i:i + 1],
                              rtol=1e-12, atol=1e-12)
        assert torch.allclose(alone.coefficients, bounder.coefficients[i:i + 1])
        assert torch.equal(alone.unstable_counts, bounder.unstable_counts[i:i + 1])


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), width=st.integers(2, 6), depth=st.integers(1, 3),
       n_split=st.integers(0, 3))
def test_compact_milp_has_the_layered_optimum(seed: int, width: int, depth: int,
                                              n_split: int) -> None:
    """The MILP over inputs and unstable neurons only has the optimum of the one with a
    variable per neuron, split constraints included."""
    from certkit.verify.complete import milp

    net, chain, gen, lo, hi = _box_problem(seed, width, depth)
    lows, ups = chain_bounds(chain, lo[None], hi[None])
    splits = [torch.zeros(n, dtype=torch.int8) for n in chain.hidden]
    for _ in range(n_split):
        k = int(torch.randint(len(splits), (1,), generator=gen))
        i = int(torch.randint(chain.hidden[k], (1,), generator=gen))
        splits[k][i] = 1 if bool(torch.rand(1, generator=gen) < 0.5) else -1
    C = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    d = torch.zeros(2, dtype=torch.float64)
    args = (chain, lo, hi, C, d, [x[0] for x in lows], [x[0] for x in ups], splits)
    a = milp.solve_milp(*args, time_limit=30, encoding="compact")
    b = milp.solve_milp(*args, time_limit=30, encoding="layered")
    assert a.status == b.status
    if a.status in ("unsat", "candidate") and b.bound < float("inf"):
        assert abs(a.objective - b.objective) <= 1e-3 * (1 + abs(b.objective))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), width=st.integers(2, 6), depth=st.integers(1, 3))
def test_milp_decides_against_the_margin(seed: int, width: int, depth: int) -> None:
    """With ``t <= margin`` in the program, the MILP says ``unsat`` exactly when the optimum
    (``margin=inf``, checked against a dense grid) lies above the margin, in both encodings."""
    from certkit.verify.complete import milp

    net, chain, gen, lo, hi = _box_problem(seed, width, depth)
    C = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    lows, ups = chain_bounds(chain, lo[None], hi[None])
    grid = torch.stack(torch.meshgrid(*[torch.linspace(float(a), float(b), 201, dtype=lo.dtype)
                                        for a, b in zip(lo, hi, strict=True)],
                                      indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        grid_min = float((net(grid) @ C.T).amax(dim=1).min())
    for encoding in ("compact", "layered"):
        # shift d so that the optimum is +0.5 (unsat above margin 0.25, not below 1.0)
        exact = milp.solve_milp(chain, lo, hi, C, torch.zeros(2, dtype=lo.dtype),
                                [x[0] for x in lows], [x[0] for x in ups],
                                margin=float("inf"), encoding=encoding)
        assert exact.objective <= grid_min + 1e-7  # the optimum is a minimum over the box
        assert exact.objective >= grid_min - 0.05 * (1 + abs(grid_min))  # and close to grid
        d = torch.full((2,), exact.objective - 0.5, dtype=lo.dtype)
        args = (chain, lo, hi, C, d, [x[0] for x in lows], [x[0] for x in ups])
        assert milp.solve_milp(*args, margin=0.25, encoding=encoding).status == "unsat"
        above = milp.solve_milp(*args, margin=1.0, encoding=encoding)
        assert above.status == "unknown" and abs(above.objective - 0.5) < 1e-6
        below = milp.solve_milp(chain, lo, hi, C, d + 1.0, [x[0] for x in lows],
                                [x[0] for x in ups], encoding=encoding)
        assert below.status == "candidate" and below.x is not None
        with torch.no_grad():
            y = net(torch.tensor(below.x)[None])
        assert float((y @ C.T - (d + 1.0)).amax()) <= 1e-6
