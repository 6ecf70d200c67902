"""Implementation choices never change a bound: memory chunking, one-sided requests,
batch composition."""

from __future__ import annotations

import pytest
import torch
from bound_helpers import make_net, rand_box

from certkit.bounds import BoundOptions, compute_bounds, method_names


@pytest.mark.parametrize("family", ["mlp", "conv", "residual"])
@pytest.mark.parametrize("method", method_names())
def test_chunking_and_sides_do_not_change_bounds(family: str, method: str) -> None:
    net, shape = make_net(family, 21)
    lo, hi = rand_box(shape, 4, 0.4, 21)
    C = torch.randn(4, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    opts = BoundOptions(alpha_iterations=4)
    tiny = BoundOptions(alpha_iterations=4, chunk_elements=64)  # forces row/sample chunks
    lb, ub = compute_bounds(net, lo, hi, method=method, C=C, options=opts)
    lb2, ub2 = compute_bounds(net, lo, hi, method=method, C=C, options=tiny)
    torch.testing.assert_close((lb2, ub2), (lb, ub), rtol=0, atol=1e-10)
    lower, inf = compute_bounds(net, lo, hi, method=method, C=C, which="lower", options=opts)
    ninf, upper = compute_bounds(net, lo, hi, method=method, C=C, which="upper", options=opts)
    assert bool(torch.isinf(inf).all()) and bool(torch.isinf(ninf).all())
    torch.testing.assert_close((lower, upper), (lb, ub), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["crown", "ssip", "rsip-ssip"])
def test_a_sample_gets_the_same_bounds_alone_or_in_a_batch(method: str) -> None:
    net, shape = make_net("conv", 4)
    lo, hi = rand_box(shape, 5, 0.4, 4)
    lb, ub = compute_bounds(net, lo, hi, method=method)
    for i in (0, 3):
        lbi, ubi = compute_bounds(net, lo[i:i + 1], hi[i:i + 1], method=method)
        torch.testing.assert_close((lbi[0], ubi[0]), (lb[i], ub[i]), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", method_names())
def test_affine_sets_chunk_per_sample_generators_correctly(method: str) -> None:
    from certkit.bounds import bound
    from certkit.specs import AffineSet

    net, shape = make_net("conv", 8)
    g = torch.Generator().manual_seed(8)
    b, k = 5, 3
    spec = AffineSet(torch.rand(b, *shape, generator=g, dtype=torch.float64),
                     torch.randn(b, *shape, k, generator=g, dtype=torch.float64) * 0.3,
                     -torch.rand(b, k, generator=g, dtype=torch.float64),
                     torch.rand(b, k, generator=g, dtype=torch.float64))
    opts = BoundOptions(alpha_iterations=3)
    tiny = BoundOptions(alpha_iterations=3, chunk_elements=32)
    torch.testing.assert_close(bound(net, spec, method, options=tiny),
                               bound(net, spec, method, options=opts), rtol=0, atol=1e-10)
