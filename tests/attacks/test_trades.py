"""TRADESAttack: the KL inner maximisation, label-free and inside the set."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from certkit.attacks import TRADESAttack
from certkit.attacks.losses import kl_to_clean


def _kl(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return kl_to_clean(model(x_adv), F.softmax(model(x), dim=1))


def test_kl_increases_from_the_noisy_start(digits_mlp: nn.Module,
                                           batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = batch
    start = TRADESAttack(digits_mlp, 0.1, steps=1, rel_step=1e-9, seed=0)(x)
    assert (start - x).abs().max() < 0.01  # x + 0.001 N(0, I), projected
    assert (start - x).abs().max() > 0
    x_adv = TRADESAttack(digits_mlp, 0.1, steps=10, seed=0)(x)
    assert _kl(digits_mlp, x, x_adv).mean() > 10 * _kl(digits_mlp, x, start).mean()
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6


def test_l2_and_labels_ignored(digits_mlp: nn.Module,
                               batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    a = TRADESAttack(digits_mlp, 0.5, norm="l2", seed=3)(x)
    b = TRADESAttack(digits_mlp, 0.5, norm="l2", seed=3)(x, y)
    assert torch.equal(a, b)
    assert bool(((a - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
