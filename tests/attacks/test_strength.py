"""Attacks are strong on a standard-trained model, stronger ones at least as strong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.analysis import adversarial_accuracy
from certkit.attacks import APGD, FGSM, PGD, Attack


def _robust(model: nn.Module, digits: tuple[torch.Tensor, ...], atk: Attack) -> float:
    return adversarial_accuracy(model, digits[2], digits[3], atk)["robust_accuracy"]


def test_pgd50_far_below_clean(digits_mlp: nn.Module, digits: tuple[torch.Tensor, ...]) -> None:
    res = adversarial_accuracy(digits_mlp, digits[2], digits[3], PGD(digits_mlp, 0.1, steps=50))
    assert res["clean_accuracy"] > 0.93
    assert res["robust_accuracy"] < res["clean_accuracy"] - 0.35
    assert _robust(digits_mlp, digits, PGD(digits_mlp, 0.15, steps=50)) < 0.2


def test_pgd_at_least_as_strong_as_fgsm(digits_mlp: nn.Module,
                                        digits: tuple[torch.Tensor, ...]) -> None:
    fgsm = _robust(digits_mlp, digits, FGSM(digits_mlp, 0.1))
    assert _robust(digits_mlp, digits, PGD(digits_mlp, 0.1, steps=20)) <= fgsm


@pytest.mark.parametrize("steps", [10, 50])
def test_apgd_at_least_as_strong_as_pgd(digits_mlp: nn.Module,
                                        digits: tuple[torch.Tensor, ...], steps: int) -> None:
    """Equal budget (same steps, one restart, CE loss) on the trained model."""
    pgd = _robust(digits_mlp, digits, PGD(digits_mlp, 0.1, steps=steps))
    apgd = _robust(digits_mlp, digits, APGD(digits_mlp, 0.1, steps=steps))
    assert apgd <= pgd


def test_restarts_and_targets_only_help(digits_mlp: nn.Module,
                                        digits: tuple[torch.Tensor, ...]) -> None:
    eps = 0.15
    one = _robust(digits_mlp, digits, PGD(digits_mlp, eps, steps=30, loss="margin"))
    five = _robust(digits_mlp, digits, PGD(digits_mlp, eps, steps=30, restarts=5,
                                           loss="margin"))
    targeted = _robust(digits_mlp, digits, PGD(digits_mlp, eps, steps=30, loss="margin",
                                               targeted=True))
    assert five <= one
    assert targeted <= one


class Counter(nn.Module):
    """Counts the rows the wrapped model evaluates."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.model(x)


def test_early_stop_attacks_only_unbroken_samples(digits_mlp: nn.Module,
                                                  digits: tuple[torch.Tensor, ...]) -> None:
    x, y = digits[2][:100], digits[3][:100]
    counts = {}
    for early in (True, False):
        model = Counter(digits_mlp)
        x_adv = PGD(model, 0.15, steps=20, restarts=3, early_stop=early)(x, y)
        counts[early] = model.rows
        broken = digits_mlp(x_adv).argmax(1) != y
        assert int(broken.sum()) > 50
    assert counts[True] < 0.5 * counts[False]


def test_linf_random_start_is_clipped_uniform() -> None:
    """Madry et al.'s start: x + U(-eps, eps) clipped, so a pixel at 0 starts at exactly 0
    half of the time and uniform in (0, eps] otherwise."""
    from certkit.attacks.space import SearchSpace
    from certkit.specs import LinfBall

    x = torch.zeros(4, 1000)
    x[:, 500:] = 0.5
    p = SearchSpace(LinfBall(x, 0.1), copies=3).random(torch.Generator().manual_seed(0))
    edge, inner = p[:, :500], p[:, 500:]
    assert abs(float((edge == 0).float().mean()) - 0.5) < 0.02
    assert float(edge.max()) <= 0.1 and float(edge.min()) >= 0.0
    assert abs(float(inner.mean()) - 0.5) < 0.005 and float((inner - 0.5).abs().max()) <= 0.1
