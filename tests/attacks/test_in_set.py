"""Every attack returns points inside its set, for every kind of spec."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from certkit.attacks import APGD, FGSM, PGD, Attack, TRADESAttack
from certkit.specs import AffineSet, Box, L2Ball, LinfBall, Spec

AttackMaker = Callable[[nn.Module, object, str], Attack]

ATTACKS: dict[str, AttackMaker] = {
    "fgsm": lambda m, s, n: FGSM(m, s, norm=n),
    "fgsm-rs": lambda m, s, n: FGSM(m, s, norm=n, random_start=True, loss="margin"),
    "pgd": lambda m, s, n: PGD(m, s, norm=n, steps=5, restarts=2),
    "pgd-targeted": lambda m, s, n: PGD(m, s, norm=n, steps=4, loss="margin", targeted=True,
                                        n_targets=3, early_stop=False),
    "pgd-cosine": lambda m, s, n: PGD(m, s, norm=n, steps=5, schedule="cosine",
                                      random_start=False, restarts=2),
    "apgd-ce": lambda m, s, n: APGD(m, s, norm=n, steps=8),
    "apgd-dlr": lambda m, s, n: APGD(m, s, norm=n, steps=8, loss="dlr", restarts=2),
    "trades": lambda m, s, n: TRADESAttack(m, s, norm=n, steps=5, seed=0),
}


class Shell(Spec):
    """A plain spec (not a Box subclass) delegating to a Linf ball: the generic code path."""

    def __init__(self, x: torch.Tensor, eps: float) -> None:
        self.ball = LinfBall(x, eps)

    @property
    def batch_size(self) -> int:
        return self.ball.batch_size

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ball.input_box()

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.ball.project(x)

    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        return self.ball.contains(x, tol)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.ball.sample(n, generator)


def brightness_contrast(x: torch.Tensor) -> AffineSet:
    """``x + a0 + a1 (x - 0.5)`` with ``|a0| <= 0.1``, ``|a1| <= 0.2``: a coefficient box."""
    b = x.shape[0]
    gens = torch.stack([torch.ones_like(x), x - 0.5], dim=-1)
    lo = torch.tensor([-0.1, -0.2]).expand(b, 2).clone()
    return AffineSet(x, gens, lo, -lo)


def make_spec(kind: str, x: torch.Tensor) -> tuple[object, str, Spec]:
    """(what the attack is given, its norm, the set to check against)."""
    if kind == "linf":
        return 0.1, "linf", LinfBall(x, 0.1)
    if kind == "l2":
        return 0.5, "l2", L2Ball(x, 0.5)
    if kind == "l2-per-sample":
        eps = torch.linspace(0.0, 1.0, x.shape[0])
        return eps, "l2", L2Ball(x, eps)
    if kind == "eps0":
        return 0.0, "linf", LinfBall(x, 0.0)
    if kind == "box":
        g = torch.Generator().manual_seed(3)
        lo = (x - 0.3 * torch.rand(x.shape, generator=g)).clamp(0, 1)
        hi = (lo + 0.2 * torch.rand(x.shape, generator=g)).clamp(0, 1)
        box = Box(lo, hi)  # need not contain x
        return box, "linf", box
    if kind == "l2-spec":
        ball = L2Ball(x, 0.8, domain=None)
        return ball, "linf", ball
    if kind == "factory":
        return (lambda z: LinfBall(z, 0.05)), "linf", LinfBall(x, 0.05)
    if kind == "generic":
        shell = Shell(x, 0.1)
        return shell, "linf", shell
    if kind == "affine":
        aff = brightness_contrast(x)
        return aff, "linf", aff
    raise AssertionError(kind)


SPECS = ["linf", "l2", "l2-per-sample", "eps0", "box", "l2-spec", "factory", "generic", "affine"]


@pytest.mark.parametrize("kind", SPECS)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_points_inside_set(digits_mlp: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                           name: str, kind: str) -> None:
    x, y = batch
    given_spec, norm, check = make_spec(kind, x)
    x_adv = ATTACKS[name](digits_mlp, given_spec, norm)(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert not x_adv.requires_grad
    assert bool(check.contains(x_adv, tol=1e-5).all())


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(list(ATTACKS)),
    norm=st.sampled_from(["linf", "l2"]),
    eps=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 6),
)
def test_points_inside_ball_property(digits_mlp: nn.Module, digits: tuple[torch.Tensor, ...],
                                     name: str, norm: str, eps: float, seed: int,
                                     n: int) -> None:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, digits[2].shape[0], (n,), generator=g)
    x, y = digits[2][idx], digits[3][idx]
    x_adv = ATTACKS[name](digits_mlp, eps, norm)(x, y)
    ball = LinfBall(x, eps) if norm == "linf" else L2Ball(x, eps)
    assert bool(ball.contains(x_adv, tol=1e-5).all())


@pytest.mark.parametrize("name", list(ATTACKS))
def test_empty_batch(digits_mlp: nn.Module, name: str) -> None:
    x = torch.zeros(0, 1, 8, 8)
    assert ATTACKS[name](digits_mlp, 0.1, "linf")(x, torch.zeros(0, dtype=torch.long)).shape \
        == x.shape
