"""Specs with a transform (lift().prefix): attacks search the coefficient box."""

from __future__ import annotations

import torch
from torch import nn

from certkit.attacks import APGD, PGD, SearchSpace, margin_loss
from certkit.specs import AffineSet


def brightness_contrast(x: torch.Tensor) -> AffineSet:
    """``x + a0 + a1 (x - 0.5)`` with ``|a0| <= 0.1``, ``|a1| <= 0.2``."""
    gens = torch.stack([torch.ones_like(x), x - 0.5], dim=-1)
    lo = torch.tensor([-0.1, -0.2]).expand(x.shape[0], 2).clone()
    return AffineSet(x, gens, lo, -lo)


def test_affine_set_searched_in_coefficients(digits_mlp: nn.Module,
                                             batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    spec = brightness_contrast(x)
    space = SearchSpace(spec, copies=3)
    assert space.param and space.set.batch_size == 3 * x.shape[0]
    assert space.center(x).shape == (3 * x.shape[0], 2)
    x_adv = PGD(digits_mlp, spec, steps=20, loss="margin", early_stop=False)(x, y)
    assert bool(spec.contains(x_adv, tol=1e-5).all())
    with torch.no_grad():
        before = margin_loss(digits_mlp(x), y)
        after = margin_loss(digits_mlp(x_adv), y)
    assert bool((after >= before - 1e-5).all()) and bool((after > before + 1e-3).any())


def test_affine_worst_case_on_linear_model(linear_model: nn.Module,
                                           batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """A one-coefficient shift on a linear model: every target's margin is linear in the
    coefficient, so the worst case is at an end of its interval and targeted ascent finds it."""
    x, y = batch
    b = x.shape[0]
    spec = AffineSet(x, torch.ones(*x.shape, 1), torch.full((b, 1), -0.2),
                     torch.full((b, 1), 0.2))
    ends = [x - 0.2, x + 0.2]
    with torch.no_grad():
        expected = torch.stack([margin_loss(linear_model(e), y) for e in ends]).amax(0)
    opts = {"steps": 30, "loss": "margin", "targeted": True, "early_stop": False}
    for atk in (PGD(linear_model, spec, **opts), APGD(linear_model, spec, **opts)):
        with torch.no_grad():
            got = margin_loss(linear_model(atk(x, y)), y)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
