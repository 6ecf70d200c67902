"""Shi et al.'s IBP initialisation and warm-up regularisers; the L1 penalty."""

from __future__ import annotations

import math

import pytest
import torch
from method_helpers import config, tiny_net
from torch import nn

from certkit.bounds import propagate
from certkit.models import build_model
from certkit.specs import LinfBall
from certkit.train.init import ibp_initialise, ibp_std, wants_ibp_init
from certkit.train.methods.certified import default_warmup_weight
from certkit.train.regularisers import (
    l1_penalty,
    relu_balance_term,
    tightness_term,
    warmup_regulariser,
)


def test_ibp_init_std_and_last_layer_untouched() -> None:
    torch.manual_seed(0)
    net = build_model("mlp-3x400", (1, 8, 8), 10)
    last = net[-1].weight.clone()
    assert ibp_initialise(net) == ["2", "4"]
    for layer, fan_in in ((net[2], 64), (net[4], 400)):
        assert layer.weight.std().item() == pytest.approx(math.sqrt(2 * math.pi) / fan_in,
                                                          rel=0.05)
        assert layer.weight.mean().item() == pytest.approx(0.0, abs=3 * ibp_std(fan_in) / 100)
    assert torch.equal(net[-1].weight, last)
    conv = nn.Conv2d(3, 8, 5)
    ibp_initialise(nn.Sequential(conv, nn.Flatten(), nn.Linear(8, 2)))
    assert conv.weight.std().item() == pytest.approx(ibp_std(75), rel=0.15)


def test_ibp_init_keeps_the_expected_box_radius() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))
    ibp_initialise(net)
    nn.init.zeros_(net[0].bias)
    x = torch.rand(256, 200) * 2 - 1
    res = propagate(net, LinfBall(x, 0.01, None), method="ibp")
    lo, hi = res.nodes[2]  # after the ReLU
    assert ((hi - lo) / 2).mean().item() == pytest.approx(0.01, rel=0.2)


def test_ibp_init_defaults_follow_the_method() -> None:
    assert wants_ibp_init(config(method="sabr", eps=0.1))
    assert not wants_ibp_init(config(method="pgd-at", eps=0.1))
    assert wants_ibp_init(config(method="standard", ibp_init=True))
    assert not wants_ibp_init(config(method="ibp", eps=0.1, ibp_init=False))


def test_l1_penalty_sums_layer_weights() -> None:
    net = tiny_net()
    assert l1_penalty(net).item() == pytest.approx(5.0 + 5.0)


def test_tightness_and_relu_balance_by_hand() -> None:
    lo = torch.tensor([[1.0, -3.0, -1.0, -2.0]])
    hi = torch.tensor([[3.0, -1.0, 1.0, -1.0]])  # radii 1, 1, 1, .5 -> mean .875
    r0 = torch.tensor(0.25)
    assert float(tightness_term(r0, lo, hi, 0.5)) == pytest.approx((0.5 - 0.25 / 0.875) / 0.5)
    assert float(tightness_term(r0, lo, hi, 0.2)) == 0.0
    # centres 2, -2, 0, -1.5; active: 2; inactive: -2, -1.5 -> mean ratio (2/4) / (3.5/4)
    # squared deviations from the mean centre (-0.375): 5.640625 vs 2.640625 + 1.265625
    mean_ratio = 2 / 3.5
    var_ratio = 5.640625 / (2.640625 + 1.265625)
    var_ratio = min(var_ratio, 1 / var_ratio)
    want = (max(0.0, 0.9 - mean_ratio) + max(0.0, 0.9 - var_ratio)) / 0.9
    assert float(relu_balance_term(lo, hi, 0.9)) == pytest.approx(want)


def test_warmup_regulariser_has_gradients() -> None:
    torch.manual_seed(0)
    net = build_model("mlp-3x32", (1, 8, 8), 10, (0.3,), (0.4,))
    res = propagate(net, LinfBall(torch.rand(16, 1, 8, 8), 0.1), method="ibp")
    reg = warmup_regulariser(res, 0.5)
    assert reg.item() > 0
    reg.backward()
    assert all(p.grad is not None for p in net[2].parameters())


def test_warmup_regulariser_default_needs_batchnorm() -> None:
    assert default_warmup_weight(build_model("cnn1-bn1", (1, 8, 8), 10)) == 0.5
    assert default_warmup_weight(tiny_net()) == 0.0
