"""The conv rule keeps window matrices of frozen weights between bound calls; a weight
changed in place (an optimizer step) must never be bounded with a stale matrix."""

from __future__ import annotations

import copy

import torch
from torch import nn

from certkit.bounds import compute_bounds


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 6, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3)).eval()


def test_bounds_follow_in_place_weight_changes() -> None:
    net = _net()
    x = torch.rand(5, 1, 9, 9, generator=torch.Generator().manual_seed(1))
    lo, hi = (x - 0.05).clamp(0, 1), (x + 0.05).clamp(0, 1)
    with torch.no_grad():
        first = compute_bounds(net, lo, hi, method="crown")
        again = compute_bounds(net, lo, hi, method="crown")
        net[2].weight.mul_(-1.5)  # in place, as an optimizer step is
        changed = compute_bounds(net, lo, hi, method="crown")
        fresh = compute_bounds(copy.deepcopy(net), lo, hi, method="crown")
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(changed, fresh, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(changed[0], first[0])


def test_gradients_still_flow_to_conv_weights() -> None:
    net = _net().train()
    x = torch.rand(3, 1, 9, 9, generator=torch.Generator().manual_seed(2))
    lo, hi = (x - 0.05).clamp(0, 1), (x + 0.05).clamp(0, 1)
    lb, _ = compute_bounds(net, lo, hi, method="crown")
    lb.sum().backward()
    assert net[2].weight.grad is not None and bool(net[2].weight.grad.abs().sum() > 0)
