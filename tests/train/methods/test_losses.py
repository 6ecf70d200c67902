"""Every loss against a hand computation on a tiny network."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from method_helpers import config, ctx, tiny_net

from certkit.bounds import compute_bounds
from certkit.models import build_model
from certkit.train.methods import fgsm_at as fgsm_mod
from certkit.train.methods import get_method
from certkit.train.methods import trades as trades_mod
from certkit.train.methods.certified import margin_rows, robust_cross_entropy
from certkit.train.methods.common import fgsm_point, pgd_point
from certkit.train.methods.crown_ibp import crown_ibp_beta
from certkit.train.methods.oe import OutlierExposure, uniform_target_loss
from certkit.train.methods.sabr import sabr_region

X2 = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
Y2 = torch.tensor([0, 1])


def _digits_mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp-3x32", (1, 8, 8), 10, (0.3,), (0.4,))


def test_robust_ce_is_ce_of_the_worst_case_logits() -> None:
    lower = torch.tensor([[0.0, 1.0, -2.0], [3.0, 0.0, 0.5]])
    y = torch.tensor([0, 1])
    hand = [math.log(1 + math.exp(-1.0) + math.exp(2.0)),
            math.log(1 + math.exp(-3.0) + math.exp(-0.5))]
    assert float(robust_cross_entropy(lower, y)) == pytest.approx(sum(hand) / 2, rel=1e-6)


def test_ibp_loss_from_hand_computed_bounds() -> None:
    # box [0.4, 0.6]^2 -> pre-activations [-0.2, 0.2] and [0.2, 0.8] -> h in [0, .2] x [.2, .8]
    # margin z0 - z1 = 2 h1 + h2 + 0.5 >= 0.7 ; z1 - z0 >= -2 * .2 - .8 - .5 = -1.7
    net, cfg = tiny_net(), config(method="ibp", eps=0.1)
    out = get_method(cfg).loss(net, X2, Y2, ctx(cfg))
    hand = (math.log(1 + math.exp(-0.7)) + math.log(1 + math.exp(1.7))) / 2
    assert out.loss.item() == pytest.approx(hand, rel=1e-6)
    # the last layer is folded into the margins: tighter than subtracting logit intervals
    lo, hi = compute_bounds(net, X2 - 0.1, X2 + 0.1, method="ibp")
    assert (lo[0, 0] - hi[0, 1]).item() == pytest.approx(0.1, abs=1e-6)
    # kappa mixes in the natural loss: z(x) = (1.5, 0.5)
    mixed = config(method="ibp", eps=0.1, kappa=0.25)
    natural = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.0))) / 2
    got = get_method(mixed).loss(net, X2, Y2, ctx(mixed)).loss.item()
    assert got == pytest.approx(0.25 * natural + 0.75 * hand, rel=1e-6)


def test_bound_methods_at_eps_zero_are_standard_training() -> None:
    net, cfg = tiny_net(), config(method="crown-ibp", eps=0.1)
    out = get_method(cfg).loss(net, X2, Y2, ctx(cfg, eps=0.0))
    assert out.loss.item() == pytest.approx(F.cross_entropy(net(X2), Y2).item(), rel=1e-6)


def test_crown_ibp_mixes_crown_ibp_and_ibp_margins() -> None:
    net, cfg = tiny_net(), config(method="crown-ibp", eps=0.1, warmup_reg=0.0)
    C = margin_rows(Y2, 2, torch.float32)
    crown = compute_bounds(net, X2 - 0.05, X2 + 0.05, method="crown-ibp", C=C)[0]
    ibp = torch.tensor([[0.0, 0.85], [-1.35, 0.0]])  # by hand as above, box [.45, .55]^2
    step = ctx(cfg, eps=0.05)
    beta = crown_ibp_beta(step)
    assert beta == pytest.approx(0.5)
    got = get_method(cfg).loss(net, X2, Y2, step).loss.item()
    want = robust_cross_entropy(beta * crown + (1 - beta) * ibp, Y2).item()
    assert got == pytest.approx(want, rel=1e-5)
    assert crown_ibp_beta(ctx(cfg)) == 0.0 and crown_ibp_beta(ctx(cfg, 1e-9)) == pytest.approx(1)


def test_fgsm_at_weighting(monkeypatch: pytest.MonkeyPatch, batch) -> None:
    x, y = batch
    net, cfg = _digits_mlp(), config(method="fgsm-at", eps=0.1, alpha=0.3)
    x_adv = (x + 0.1 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    monkeypatch.setattr(fgsm_mod, "fgsm_point", lambda *a, **k: x_adv)
    got = get_method(cfg).loss(net, x, y, ctx(cfg)).loss.item()
    want = 0.3 * F.cross_entropy(net(x), y) + 0.7 * F.cross_entropy(net(x_adv), y)
    assert got == pytest.approx(want.item(), rel=1e-6)


def test_fgsm_point_is_the_signed_gradient_vertex() -> None:
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0], [-1.0, 3.0]]))
        lin.bias.zero_()
    x, y = torch.tensor([[0.5, 0.5]]), torch.tensor([0])
    # CE(y=0) increases along w1 - w0 = (-2, 5): step -eps on x1, +eps on x2
    got = fgsm_point(lin, x, y, 0.1, random_start=False)
    assert torch.allclose(got, torch.tensor([[0.4, 0.6]]))


def test_trades_kl_term(monkeypatch: pytest.MonkeyPatch, batch) -> None:
    x, y = batch
    net, cfg = _digits_mlp(), config(method="trades", eps=0.1, beta=3.0)
    x_adv = (x + 0.05).clamp(0, 1)
    monkeypatch.setattr(trades_mod, "trades_point", lambda *a, **k: x_adv)
    got = get_method(cfg).loss(net, x, y, ctx(cfg)).loss.item()
    p, q = F.softmax(net(x), 1), F.softmax(net(x_adv), 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    assert got == pytest.approx((F.cross_entropy(net(x), y) + 3.0 * kl).item(), rel=1e-5)
    assert trades_mod.trades_kl(net(x), net(x)).item() == pytest.approx(0.0, abs=1e-7)


def test_pgd_at_is_the_loss_at_the_pgd_point(batch) -> None:
    x, y = batch
    net, cfg = _digits_mlp(), config(method="pgd-at", eps=0.1, attack_steps=5)
    torch.manual_seed(7)
    got = get_method(cfg).loss(net, x, y, ctx(cfg)).loss.item()
    torch.manual_seed(7)
    x_adv = pgd_point(net, x, y, 0.1, cfg)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert got == pytest.approx(F.cross_entropy(net(x_adv), y).item(), rel=1e-6)
    assert got > F.cross_entropy(net(x), y).item()


def test_sabr_region_geometry() -> None:
    x = torch.tensor([[0.5, 0.02, 0.9]])
    x_adv = torch.tensor([[0.6, 0.0, 0.8]])
    lo, hi = sabr_region(x, x_adv, 0.1, 0.25)  # tau .025, centre projected to the .075-ball
    centre = torch.tensor([[0.575, 0.0, 0.825]])
    assert torch.allclose(lo, (centre - 0.025).clamp(min=0))
    assert torch.allclose(hi, centre + 0.025)
    assert bool((lo >= x - 0.1 - 1e-7).all() and (hi <= x + 0.1 + 1e-7).all())
    full = sabr_region(x, x_adv, 0.1, 1.0)  # lambda = 1: the eps-ball itself
    assert torch.equal(full[0], (x - 0.1).clamp(min=0)) and torch.equal(full[1], x + 0.1)


def test_sabr_at_lambda_one_is_exactly_ibp(batch) -> None:
    x, y = batch
    net = _digits_mlp()
    sabr, ibp = config(method="sabr", eps=0.1, sabr_lambda=1.0), config(method="ibp", eps=0.1)
    a = get_method(sabr).loss(net, x, y, ctx(sabr)).loss
    b = get_method(ibp).loss(net, x, y, ctx(ibp)).loss
    assert torch.equal(a, b)


def test_sabr_as_lambda_goes_to_zero_is_the_adversarial_loss(batch) -> None:
    x, y = batch
    net, cfg = _digits_mlp(), config(method="sabr", eps=0.1, sabr_lambda=1e-6, attack_steps=5)
    torch.manual_seed(3)
    got = get_method(cfg).loss(net, x, y, ctx(cfg)).loss.item()
    torch.manual_seed(3)
    adv = F.cross_entropy(net(pgd_point(net, x, y, 0.1, cfg)), y).item()
    assert got == pytest.approx(adv, rel=1e-4)
    ibp = config(method="ibp", eps=0.1)
    assert get_method(ibp).loss(net, x, y, ctx(ibp)).loss.item() > got + 0.1


def test_gaussian_noise_augmentation(batch) -> None:
    x, y = batch
    net, cfg = _digits_mlp(), config(method="gaussian", sigma=0.5)
    torch.manual_seed(5)
    got = get_method(cfg).loss(net, x, y, ctx(cfg)).loss.item()
    torch.manual_seed(5)
    want = F.cross_entropy(net(x + 0.5 * torch.randn_like(x)), y)
    assert got == pytest.approx(want.item(), rel=1e-6)


def test_oe_uniform_target(batch) -> None:
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    log_p = F.log_softmax(z, 1)
    assert float(uniform_target_loss(z)) == pytest.approx(float(-(log_p.sum(1) / 3).mean()))
    assert float(uniform_target_loss(z[1:])) == pytest.approx(math.log(3))  # its minimum
    soft = F.cross_entropy(z, torch.full_like(z, 1 / 3))  # CE to the uniform distribution
    assert float(uniform_target_loss(z)) == pytest.approx(float(soft))
    x, y = batch
    net, outliers = _digits_mlp(), torch.rand(50, 1, 8, 8)
    oe, cfg = OutlierExposure(outliers, 0.7), config()
    torch.manual_seed(11)
    got = oe.loss(net, x, y, ctx(cfg)).loss.item()
    torch.manual_seed(11)
    out = outliers[torch.randint(50, (x.shape[0],))]
    want = F.cross_entropy(net(x), y) + 0.7 * uniform_target_loss(net(out))
    assert got == pytest.approx(want.item(), rel=1e-5)
