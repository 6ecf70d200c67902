"""Gradients flow to the model parameters through every method (certified training)."""

from __future__ import annotations

import pytest
import torch
from bound_helpers import make_net, rand_box

from certkit.bounds import BoundOptions, compute_bounds, method_names


@pytest.mark.parametrize("family", ["mlp", "conv", "residual", "bn"])
@pytest.mark.parametrize("method", method_names())
def test_gradients_reach_every_weight(family: str, method: str) -> None:
    net, shape = make_net(family, 7)
    lo, hi = rand_box(shape, 3, 0.3, 7)
    net.zero_grad()
    lb, ub = compute_bounds(net, lo, hi, method=method,
                            options=BoundOptions(alpha_iterations=3))
    (ub - lb).sum().backward()
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    for p in weights:
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
    assert float(weights[0].grad.abs().sum()) > 0  # the first layer is reached


def test_gradients_flow_through_train_mode_batchnorm() -> None:
    net, shape = make_net("bn", 3)
    net.train()
    lo, hi = rand_box(shape, 4, 0.1, 3)
    lb, ub = compute_bounds(net, lo, hi, method="crown-ibp", x=(lo + hi) / 2)
    (ub - lb).sum().backward()
    assert float(net[0].weight.grad.abs().sum()) > 0


def test_gradients_reach_the_input_box() -> None:
    net, shape = make_net("conv", 1)
    lo, hi = rand_box(shape, 2, 0.2, 1)
    lo.requires_grad_(True)
    hi.requires_grad_(True)
    lb, ub = compute_bounds(net, lo, hi, method="crown")
    (ub - lb).sum().backward()
    assert lo.grad is not None and float(lo.grad.abs().sum()) > 0
