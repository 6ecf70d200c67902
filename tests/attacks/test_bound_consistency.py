"""No attack ever finds an adversarial example for a sample the bound engine certifies.

Bounds and attacks both run in float64 so that rounding cannot blur the comparison. Each
case also checks that it is not vacuous: some samples are certified, and the attack breaks
some of the others.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from certkit.attacks import APGD, FGSM, PGD, Attack
from certkit.specs import AffineSet, L2Ball, LinfBall, Spec

bounds = pytest.importorskip("certkit.bounds")


def margin_matrix(y: torch.Tensor, k: int) -> torch.Tensor:
    """C (B, k-1, k) with rows e_y - e_j for every j != y."""
    eye = torch.eye(k, dtype=torch.float64)
    rows = [eye[y] - eye[j] for j in range(k)]
    c = torch.stack(rows, dim=1)  # (B, k, k)
    keep = torch.ones(y.shape[0], k, dtype=torch.bool)
    keep[torch.arange(y.shape[0]), y] = False
    return c[keep].view(y.shape[0], k - 1, k)


def shift_spec(x: torch.Tensor, eps: float) -> AffineSet:
    """Brightness shift ``x + a``, ``|a| <= eps`` (no clipping)."""
    b = x.shape[0]
    return AffineSet(x, torch.ones(*x.shape, 1, dtype=x.dtype),
                     torch.full((b, 1), -eps, dtype=x.dtype), torch.full((b, 1), eps,
                                                                        dtype=x.dtype))


CASES = {
    "linf-ibp": ("linf", 0.015, "ibp"),
    "linf-crown": ("linf", 0.06, "crown"),
    "l2-crown": ("l2", 0.4, "crown"),
    "shift-crown": ("shift", 0.3, "crown"),
}


def _spec(kind: str, x: torch.Tensor, eps: float) -> Spec:
    if kind == "linf":
        return LinfBall(x, eps)
    if kind == "l2":
        return L2Ball(x, eps)
    return shift_spec(x, eps)


def _attacks(model: nn.Module, spec: Spec, norm: str) -> list[Attack]:
    return [
        FGSM(model, spec, norm=norm),
        PGD(model, spec, norm=norm, steps=20, restarts=2, loss="margin", targeted=True,
            n_targets=3),
        PGD(model, spec, norm=norm, steps=20, loss="ce"),
        APGD(model, spec, norm=norm, steps=20, loss="dlr"),
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_certified_samples_are_never_broken(digits_mlp: nn.Module,
                                            digits: tuple[torch.Tensor, ...], case: str) -> None:
    kind, eps, method = CASES[case]
    model = copy.deepcopy(digits_mlp).double().eval()
    x, y = digits[2][:250].double(), digits[3][:250]
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    x, y = x[correct], y[correct]
    spec = _spec(kind, x, eps)
    lb, _ = bounds.bound(model, spec, method, margin_matrix(y, 10), which="lower")
    certified = (lb > 0).all(dim=1)
    assert 0 < int(certified.sum()) < x.shape[0], "vacuous case: tune eps"
    broken = torch.zeros_like(certified)
    for atk in _attacks(model, spec, "l2" if kind == "l2" else "linf"):
        x_adv = atk(x, y)
        assert bool(spec.contains(x_adv, tol=1e-6).all())
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        assert not bool((fooled & certified).any()), f"{atk} broke a certified sample"
        broken |= fooled
    assert bool(broken[~certified].any())


def test_certify_verdicts_hold_against_attacks(digits_mlp: nn.Module,
                                               digits: tuple[torch.Tensor, ...]) -> None:
    """The same property through certkit.verify.certify (the verdicts users see)."""
    verify = pytest.importorskip("certkit.verify")
    model = copy.deepcopy(digits_mlp).double().eval()
    x, y = digits[2][:200].double(), digits[3][:200]
    eps = 0.05
    results = verify.certify(model, x, y, LinfBall(x, eps), "crown")
    certified = torch.tensor([r.certified for r in results])
    assert 0 < int(certified.sum()) < x.shape[0]
    atk = PGD(model, eps, steps=30, restarts=3, loss="margin", targeted=True, n_targets=3)
    with torch.no_grad():
        fooled = model(atk(x, y)).argmax(1) != y
    assert not bool((fooled & certified).any())
    assert bool(fooled.any())
