"""The dense chain form and its CROWN / alpha-beta-CROWN bounds with ReLU splits are sound."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from certkit.bounds import compute_bounds
from certkit.io.onnx_modules import ConstAffine
from certkit.verify.complete import chain_crown as cc
from certkit.verify.complete.chain import extract_chain


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
@given(seed=st.integers(0, 10_000), width=st.integers(2, 6), depth=st.integers(1, 3),
       n_split=st.integers(0, 4))
def test_split_bounds_are_sound(seed: int, width: int, depth: int, n_split: int) -> None:
    net = _net(seed, [2] + [width] * depth + [3])
    chain = extract_chain(net, 2)
    assert chain is not None
    gen = torch.Generator().manual_seed(seed)
    lo = torch.rand(1, 2, generator=gen, dtype=torch.float64) - 1
    hi = lo + torch.rand(1, 2, generator=gen, dtype=torch.float64) + 0.1
    lows, ups = cc.intermediate(chain, lo, hi)
    splits = [torch.zeros(1, n, dtype=torch.int8) for n in chain.hidden]
    for _ in range(n_split):
        k = int(torch.randint(len(splits), (1,), generator=gen))
        i = int(torch.randint(chain.hidden[k], (1,), generator=gen))
        splits[k][0, i] = 1 if bool(torch.rand(1, generator=gen) < 0.5) else -1
    C = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    lb, _, _, _ = cc.output_bound(chain, lo, hi, C, lows, ups, splits)
    lb_opt, _, _ = cc.optimized_bound(chain, lo, hi, C, lows, ups, splits, iterations=15)
    assert bool((lb_opt >= lb - 1e-12).all())
    x = lo + (hi - lo) * torch.rand(4000, 2, generator=gen, dtype=torch.float64)
    keep = torch.ones(x.shape[0], dtype=torch.bool)
    for z, s in zip(chain.pre_activations(x), splits, strict=True):
        keep &= ((s == 0) | ((s > 0) & (z >= 0)) | ((s < 0) & (z <= 0))).all(dim=1)
    vals = chain.forward(x[keep]) @ C.T
    if vals.shape[0]:
        assert bool((vals >= lb_opt - 1e-9).all())
    if n_split == 0:  # without splits: as sound as, and comparable to, the engine's CROWN
        eng, _ = compute_bounds(net, lo, hi, method="crown", C=C[None])
        assert bool((vals >= eng - 1e-9).all())
        for k in range(len(chain.hidden)):  # intermediate bounds contain the pre-activations
            z = chain.pre_activations(x)[k]
            assert bool((z >= lows[k] - 1e-9).all() and (z <= ups[k] + 1e-9).all())
