"""A convolution kept as a kernel in the chain (:class:`ConvMap`) is the dense map it stands for."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.bounds.subdomains import SubdomainBounder
from certkit.verify.complete.chain import _probe, extract_chain
from certkit.verify.complete.conv_map import ConvMap


@pytest.mark.parametrize(("k", "stride", "pad", "dil", "size"),
                         [(4, 2, 1, 1, 8), (3, 1, 1, 1, 7), (3, 2, 0, 1, 9), (2, 1, 2, 2, 6),
                          (5, 3, 1, 1, 11)])
def test_conv_map_equals_the_probed_matrix(k: int, stride: int, pad: int, dil: int,
                                           size: int) -> None:
    torch.manual_seed(k * 100 + size)
    conv = nn.Conv2d(3, 4, k, stride=stride, padding=pad, dilation=dil).double()
    shape = (3, size, size + 1)
    cmap = ConvMap.of(conv, shape)
    assert cmap is not None
    dense, _, out_shape = _probe([nn.Unflatten(1, shape), conv],
                                 (3 * size * (size + 1),))
    assert cmap.out_shape == out_shape
    x = torch.randn(5, cmap.n_in, dtype=torch.float64)
    assert torch.allclose(cmap.apply(x), x @ dense.T, atol=1e-12)
    assert torch.allclose(cmap.dense(), dense, atol=1e-12)


def test_grouped_convolution_is_left_dense() -> None:
    conv = nn.Conv2d(4, 4, 3, groups=2).double()
    assert ConvMap.of(conv, (4, 6, 6)) is None


def _conv_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (2, 6, 6)), nn.Conv2d(2, 3, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Conv2d(3, 4, 2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(16, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv_chain_bounds_equal_the_dense_chain(seed: int) -> None:
    """The chain's module (convolutions kept) computes the network, and the bound engine
    gives it the same bounds as the dense chain's module (every layer a matrix)."""
    net = _conv_net(seed)
    chain = extract_chain(net, 72)
    assert chain is not None and isinstance(chain.maps[0], ConvMap)
    assert isinstance(chain.maps[1], ConvMap)
    dense = type(chain)([w.clone() for w in chain.weights], chain.biases)
    gen = torch.Generator().manual_seed(seed)
    lo = torch.rand(1, 72, generator=gen, dtype=torch.float64)
    hi = lo + 0.3
    x = lo + (hi - lo) * torch.rand(3000, 72, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = net(x)
        assert torch.allclose(chain.module()(x), y, atol=1e-10)
        assert torch.allclose(dense.module()(x), y, atol=1e-10)
    C = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    conv_b = SubdomainBounder(chain.module(), lo, hi)
    dense_b = SubdomainBounder(dense.module(), lo, hi)
    got, want = conv_b.root_bounds(0), dense_b.root_bounds(0)
    for (a, b), (c, d) in zip(got, want, strict=True):
        assert torch.allclose(a, c, atol=1e-10) and torch.allclose(b, d, atol=1e-10)
    zeros = [torch.zeros(1, s, dtype=torch.int8) for s in conv_b.sizes]
    lb_conv = conv_b.bound(zeros, C, got, iterations=5).lower
    lb_dense = dense_b.bound(zeros, C, want, iterations=5).lower
    assert torch.allclose(lb_conv, lb_dense, atol=1e-9)
    assert bool((y @ C.T >= lb_conv - 1e-9).all())
