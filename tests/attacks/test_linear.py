"""On linear models the worst case is known in closed form: attacks must reach it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.attacks import APGD, FGSM, PGD, margin_loss
from certkit.specs import LinfBall


def _diffs(model: nn.Module, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """c = w_j - w_y (B, K, n) and d = b_j - b_y (B, K) for the linear layer."""
    lin = model[1]
    w, b = lin.weight.detach(), lin.bias.detach()
    return w[None] - w[y][:, None], b[None] - b[y][:, None]


def worst_margin_box(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """max over the box and j != y of z_j - z_y: every coefficient picks its better bound."""
    c, d = _diffs(model, y)
    best = torch.maximum(c * lo.flatten(1)[:, None], c * hi.flatten(1)[:, None]).sum(-1) + d
    return best.scatter(1, y[:, None], float("-inf")).amax(dim=1)


def worst_margin_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    eps: float) -> torch.Tensor:
    """max over the (unclipped) L2 ball: c.x + eps ||c||_2 + d."""
    c, d = _diffs(model, y)
    best = (c * x.flatten(1)[:, None]).sum(-1) + eps * c.norm(dim=-1) + d
    return best.scatter(1, y[:, None], float("-inf")).amax(dim=1)


def _margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return margin_loss(model(x), y)


@pytest.mark.parametrize("domain", [(0.0, 1.0), None])
@pytest.mark.parametrize("attack", ["pgd", "apgd"])
def test_targeted_margin_reaches_linf_worst_case(linear_model: nn.Module,
                                                 batch: tuple[torch.Tensor, torch.Tensor],
                                                 domain: tuple[float, float] | None,
                                                 attack: str) -> None:
    x, y = batch
    eps = 0.05
    opts = {"loss": "margin", "targeted": True, "early_stop": False, "domain": domain}
    atk = PGD(linear_model, eps, steps=50, **opts) if attack == "pgd" \
        else APGD(linear_model, eps, steps=50, **opts)
    lo, hi = LinfBall(x, eps, domain).input_box()
    expected = worst_margin_box(linear_model, x, y, lo, hi)
    got = _margin(linear_model, atk(x, y), y)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_targeted_margin_reaches_l2_worst_case(linear_model: nn.Module,
                                               batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    eps = 0.5
    atk = PGD(linear_model, eps, norm="l2", steps=100, rel_step=0.1, loss="margin",
              targeted=True, early_stop=False, domain=None)
    expected = worst_margin_l2(linear_model, x, y, eps)
    got = _margin(linear_model, atk(x, y), y)
    assert bool((got <= expected + 1e-4).all())
    c, _ = _diffs(linear_model, y)
    scale = eps * c.norm(dim=-1).amax(dim=1)
    assert bool(((expected - got) <= 1e-3 * scale).all())


@pytest.mark.parametrize("name", ["pgd", "pgd-restarts", "apgd-ce", "apgd-dlr", "fgsm"])
def test_no_attack_beats_the_worst_case(linear_model: nn.Module,
                                        batch: tuple[torch.Tensor, torch.Tensor],
                                        name: str) -> None:
    x, y = batch
    eps = 0.1
    atk = {"pgd": PGD(linear_model, eps, steps=20, early_stop=False),
           "pgd-restarts": PGD(linear_model, eps, steps=20, restarts=3, loss="margin"),
           "apgd-ce": APGD(linear_model, eps, steps=20),
           "apgd-dlr": APGD(linear_model, eps, steps=20, loss="dlr", early_stop=False),
           "fgsm": FGSM(linear_model, eps)}[name]
    lo, hi = LinfBall(x, eps).input_box()
    bound = worst_margin_box(linear_model, x, y, lo, hi)
    assert bool((_margin(linear_model, atk(x, y), y) <= bound + 1e-5).all())


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_fgsm_exact_on_binary_linear(batch: tuple[torch.Tensor, torch.Tensor],
                                     loss: str) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval()
    x, _ = batch
    y = torch.randint(0, 2, (x.shape[0],), generator=torch.Generator().manual_seed(0))
    eps = 0.1
    lo, hi = LinfBall(x, eps).input_box()
    expected = worst_margin_box(model, x, y, lo, hi)
    got = _margin(model, FGSM(model, eps, loss=loss)(x, y), y)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
