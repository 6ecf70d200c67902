"""Exactness where the truth is known: linear networks, stable ReLUs, DeepPoly's example,
and Theorem 2 of the bias-field paper."""

from __future__ import annotations

import pytest
import torch
from bound_helpers import DT, rand_box
from torch import nn

from certkit.bounds import BoundOptions, bound, compute_bounds, method_names, propagate
from certkit.models import Normalize
from certkit.specs import AffineSet, Box, L2Ball

LINEAR_EXACT = [m for m in method_names() if m != "ibp"]


def _affine_map(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobian (B, out, n) and value of a network that is affine around ``x``."""
    jac = torch.func.vmap(torch.func.jacrev(lambda v: net(v.unsqueeze(0))[0]))(x)
    return jac.reshape(x.shape[0], jac.shape[1], -1), net(x).detach()


def _exact_box(net: nn.Module, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, ...]:
    mid = (lo + hi) / 2
    jac, val = _affine_map(net, mid)
    rad = ((hi - lo) / 2).flatten(1).unsqueeze(-1)
    spread = torch.bmm(jac.abs(), rad).squeeze(-1)
    return val - spread, val + spread


def _linear_nets() -> list[nn.Module]:
    torch.manual_seed(3)
    bn = nn.BatchNorm2d(2)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(-2, 2)
    return [
        nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Linear(8, 5), nn.Linear(5, 3)),
        nn.Sequential(Normalize([0.3], [0.7]), nn.Conv2d(1, 2, 3, padding=1), bn,
                      nn.AvgPool2d(2), nn.Conv2d(2, 3, 2, stride=2), nn.Flatten(),
                      nn.Linear(3, 4)),
    ]


@pytest.mark.parametrize("net_id", [0, 1])
@pytest.mark.parametrize("method", LINEAR_EXACT)
def test_linear_networks_get_their_exact_range(net_id: int, method: str) -> None:
    net = _linear_nets()[net_id].to(DT).eval()
    lo, hi = rand_box((1, 4, 4), 3, 0.3, seed=net_id)
    lb, ub = compute_bounds(net, lo, hi, method=method)
    exact_lo, exact_hi = _exact_box(net, lo, hi)
    torch.testing.assert_close(lb, exact_lo, rtol=0, atol=1e-12)
    torch.testing.assert_close(ub, exact_hi, rtol=0, atol=1e-12)


def test_ibp_is_exact_for_one_layer_and_loose_for_several() -> None:
    lo, hi = rand_box((1, 4, 4), 3, 0.3, seed=1)
    one = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).to(DT)
    lb, ub = compute_bounds(one, lo, hi, method="ibp")
    torch.testing.assert_close((lb, ub), _exact_box(one, lo, hi), rtol=0, atol=1e-12)
    deep = _linear_nets()[0].to(DT)
    lb, ub = compute_bounds(deep, lo, hi, method="ibp")
    ex_lo, ex_hi = _exact_box(deep, lo, hi)
    assert bool((lb <= ex_lo + 1e-12).all()) and bool((lb < ex_lo - 1e-6).any())
    assert bool((ub >= ex_hi - 1e-12).all())


def test_a_linear_map_over_an_l2_ball_uses_the_dual_norm() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(9, 4)).to(DT)
    x = torch.rand(2, 1, 3, 3, dtype=DT)
    lb, ub = bound(net, L2Ball(x, 0.2, domain=None), "crown")
    spread = 0.2 * net[1].weight.norm(dim=1)
    torch.testing.assert_close(lb, net(x) - spread, rtol=0, atol=1e-12)
    torch.testing.assert_close(ub, net(x) + spread, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["crown", "alpha-crown", "ssip", "rsip-ssip", "crown-ibp"])
def test_all_relus_stable_gives_exact_bounds(method: str) -> None:
    torch.manual_seed(1)
    l1, l2, l3 = nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3)
    with torch.no_grad():
        l1.bias.fill_(4.0)  # every first-layer neuron active on the box
        l2.bias.copy_(torch.tensor([5.0, 5.0, -20.0, -20.0]))  # two active, two dead
    net = nn.Sequential(l1, nn.ReLU(), l2, nn.ReLU(), l3).to(DT)
    lo, hi = rand_box((6,), 4, 0.5, seed=2)
    res = propagate(net, Box(lo, hi), method=method)
    for _, pl, pu in res.pre_activation_bounds():  # the premise: nothing is unstable
        assert not bool(((pl < 0) & (pu > 0)).any())
    exact_lo, exact_hi = _exact_box(net, lo, hi)
    torch.testing.assert_close(res.lower, exact_lo, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.upper, exact_hi, rtol=0, atol=1e-12)


def _deeppoly_net() -> nn.Sequential:
    """Singh et al. 2019 (POPL), section 2: x1, x2 in [-1, 1];
    x3 = x1 + x2, x4 = x1 - x2; x5, x6 = relu; x7 = x5 + x6, x8 = x5 - x6; x9, x10 = relu;
    x11 = x9 + x10 + 1, x12 = x10."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    w = [torch.tensor([[1.0, 1.0], [1.0, -1.0]]), torch.tensor([[1.0, 1.0], [1.0, -1.0]]),
         torch.tensor([[1.0, 1.0], [0.0, 1.0]])]
    b = [torch.zeros(2), torch.zeros(2), torch.tensor([1.0, 0.0])]
    with torch.no_grad():
        for layer, wi, bi in zip(net[::2], w, b, strict=True):
            layer.weight.copy_(wi)
            layer.bias.copy_(bi)
    return net.to(DT)


def test_deeppoly_running_example_number_for_number() -> None:
    # By hand, following the paper: x3, x4 in [-2, 2] (exact). ReLU with u = -l = 2: DeepPoly
    # (and CROWN's adaptive slope, 1 only if u > -l) takes lower slope 0, upper x5 <= 0.5 x3 + 1,
    # so x5, x6 in [0, 2]. Back-substitution: x7 = x5 + x6 >= 0 and
    # <= 0.5 x3 + 0.5 x4 + 2 = x1 + 2 <= 3, so x7 in [0, 3]; x8 = x5 - x6 >= -(0.5 x4 + 1) >= -2
    # and <= 0.5 x3 + 1 <= 2, so x8 in [-2, 2]. x9 = x7 (stable), x10 in [0, 2] with
    # x10 <= 0.5 x8 + 1. x11 = x9 + x10 + 1 >= x7 + 1 >= 1 and
    # <= x7 + 0.5 x8 + 2 = 1.5 x5 + 0.5 x6 + 2 <= 0.75 x3 + 0.25 x4 + 4 = x1 + 0.5 x2 + 4 <= 5.5;
    # x12 = x10 in [0, 2]; and x11 - x12 = x9 + 1 >= 1 > 0: the property holds.
    net = _deeppoly_net()
    lo, hi = -torch.ones(1, 2, dtype=DT), torch.ones(1, 2, dtype=DT)
    res = propagate(net, Box(lo, hi), method="deeppoly",
                    options=BoundOptions(tighten_stable=True))
    (n3, l3, u3), (n7, l7, u7) = res.pre_activation_bounds()
    assert (l3.tolist(), u3.tolist()) == ([[-2.0, -2.0]], [[2.0, 2.0]])
    assert (l7.tolist(), u7.tolist()) == ([[0.0, -2.0]], [[3.0, 2.0]])
    assert (res.lower.tolist(), res.upper.tolist()) == ([[1.0, 0.0]], [[5.5, 2.0]])
    margin = torch.tensor([[[1.0, -1.0]]], dtype=DT)
    lb, _ = compute_bounds(net, lo, hi, method="deeppoly", C=margin)
    assert lb.tolist() == [[1.0]]
    # the default schedule (back-substituting only undecided neurons) gives the same output
    lb, ub = compute_bounds(net, lo, hi, method="crown")
    assert (lb.tolist(), ub.tolist()) == ([[1.0, 0.0]], [[5.5, 2.0]])


def test_bias_field_theorem_2_brightness_shift_ibp_equals_linf_box_ibp() -> None:
    # Henriksen & Lomuscio, Theorem 2: IBP(N, X) = IBP(N_{T_B,x}, A) for the 0-order additive
    # field x + a 1, |a| <= lambda, and X the Linf ball of radius lambda around x.
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 10),
                        nn.ReLU(), nn.Linear(10, 4)).to(DT).eval()
    x = torch.rand(3, 1, 5, 5, dtype=DT)
    lam = 0.07
    shift = AffineSet(x, torch.ones(3, 1, 5, 5, 1, dtype=DT), torch.full((3, 1), -lam, dtype=DT),
                      torch.full((3, 1), lam, dtype=DT))
    ibp_shift = bound(net, shift, "ibp")
    ibp_ball = compute_bounds(net, x - lam, x + lam, method="ibp")
    torch.testing.assert_close(ibp_shift, ibp_ball, rtol=0, atol=1e-12)
    # ...while a symbolic method over the single coefficient is strictly tighter
    lb, ub = bound(net, shift, "crown")
    assert bool(((ub - lb) < (ibp_ball[1] - ibp_ball[0]) - 1e-9).any())
