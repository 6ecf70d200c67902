"""SABR diagnostics: box growth (row-wise L1 norms), ReLU states, loss vs lambda, alignment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from certkit.analysis.diagnostics import (
    box_growth,
    box_growth_run,
    gradient_alignment,
    gradient_alignment_run,
    loss_vs_lambda,
    loss_vs_lambda_run,
    relu_states,
    relu_states_run,
)
from certkit.errors import CertkitError


def test_linear_layer_growth_is_the_mean_row_l1_norm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    x = torch.rand(5, 1, 3, 4)
    rows = box_growth(model, x, 0.05)
    lin = [r for r in rows if r["kind"] == "linear"]
    w1 = model[1].weight.detach()
    # uniform input radius: every output radius is ||W_j||_1 * eps
    assert lin[0]["kappa"] == pytest.approx(float(w1.abs().sum(1).mean()), rel=1e-5)
    assert lin[0]["row_l1"] == pytest.approx(lin[0]["kappa"], rel=1e-5)
    assert lin[0]["radius_in"] == pytest.approx(0.05, rel=1e-6)
    relu = next(r for r in rows if r["kind"] == "relu")
    assert 0.0 <= relu["kappa"] <= 1.0 + 1e-6  # ReLU boxes never grow
    prod = 1.0
    for r in rows:
        prod *= r["kappa"]
    assert rows[-1]["cumulative_kappa"] == pytest.approx(prod, rel=1e-9)


def test_conv_growth_matches_kernel_l1_without_padding() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten()).eval()
    rows = box_growth(model, torch.rand(2, 2, 6, 6), 0.02)
    conv = rows[0]
    assert conv["kind"] == "conv2d"
    assert conv["kappa"] == pytest.approx(
        float(model[0].weight.detach().abs().flatten(1).sum(1).mean()), rel=1e-5)


def test_relu_state_fractions_sum_to_100_and_match_forward(studies_mlp: nn.Module,
                                                          digits_tensors: tuple) -> None:
    x = digits_tensors[0][:30]
    rows = relu_states(studies_mlp, x, 0.05)
    for r in rows:
        assert r["point_active"] + r["point_inactive"] == pytest.approx(100.0)
        assert r["region_active"] + r["region_inactive"] + r["region_unstable"] == \
            pytest.approx(100.0)
        assert r["region_active"] <= r["point_active"] + 1e-9
        assert r["region_inactive"] <= r["point_inactive"] + 1e-9
    # point states by a direct forward pass through the layers
    h = x
    active = total = 0
    for layer in studies_mlp:
        if isinstance(layer, nn.ReLU):
            active += int((h > 0).sum())
            total += h.numel()
        h = layer(h)
    assert rows[-1]["point_active"] == pytest.approx(100 * active / total)
    zero = relu_states(studies_mlp, x, 0.0)[-1]
    assert zero["region_unstable"] == 0.0
    assert zero["region_active"] == pytest.approx(zero["point_active"])
    wide = relu_states(studies_mlp, x, 0.2)[-1]
    assert wide["region_unstable"] >= rows[-1]["region_unstable"]


def test_loss_grows_with_lambda_and_bounds_the_standard_loss(studies_mlp: nn.Module,
                                                             digits_tensors: tuple) -> None:
    x, y = digits_tensors[0][:50], digits_tensors[1][:50]
    rows = loss_vs_lambda(studies_mlp, x, y, 0.1, lambdas=(0.05, 0.2, 0.5, 1.0))
    std = rows[0]["loss"]
    for m in ("ibp", "crown"):
        losses = [r["loss"] for r in rows if r["method"] == m]
        assert all(v >= std - 1e-5 for v in losses)
        assert all(b >= a - 1e-5 for a, b in zip(losses, losses[1:], strict=False))
    with pytest.raises(CertkitError):
        loss_vs_lambda(studies_mlp, x, y, 0.1, lambdas=(0.0,))


def test_tiny_region_aligns_with_the_adversarial_gradient(studies_mlp: nn.Module,
                                                          digits_tensors: tuple) -> None:
    # lambda -> 0: the SABR region shrinks to the PGD point, so the robust CE becomes the CE
    # at that point and its gradient equals the adversarial CE gradient.
    x, y = digits_tensors[0][:40], digits_tensors[1][:40]
    res = gradient_alignment(studies_mlp, x, y, 0.05, 1e-7, batch_size=40, attack_steps=5)
    assert res["cos_adv"] == pytest.approx(1.0, abs=1e-4)
    assert -1.0 <= res["cos_std"] <= 1.0
    full = gradient_alignment(studies_mlp, x, y, 0.05, 1.0, batch_size=40, attack_steps=5)
    assert full["cos_adv"] < res["cos_adv"]


def test_run_level_diagnostics_write_csv_and_png(studies_run: Path) -> None:
    pytest.importorskip("matplotlib")
    outs = [box_growth_run(studies_run, n=20), relu_states_run(studies_run, n=20),
            loss_vs_lambda_run(studies_run, n=20, lambdas=(0.1, 1.0)),
            gradient_alignment_run(studies_run, studies_run, n=20, lam_b=0.1,
                                   attack_steps=3)]
    for s in outs:
        assert Path(s["csv"]).is_file() and Path(s["png"]).stat().st_size > 1000
    assert outs[0]["eps"] == 0.05  # the run's training eps by default
    assert outs[3]["a_lambda"] == 1.0 and outs[3]["b_lambda"] == 0.1
