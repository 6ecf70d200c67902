"""Bad input ends in one clear CertkitError, never a silent wrong answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from certkit.attacks import APGD, FGSM, PGD, TRADESAttack, make_attack
from certkit.errors import CertkitError
from certkit.specs import LinfBall

MAKERS: list[Callable[..., object]] = [FGSM, PGD, APGD, TRADESAttack]


@pytest.mark.parametrize("cls", MAKERS)
@pytest.mark.parametrize("eps", [-0.1, float("nan"), float("inf")])
def test_bad_eps(linear_model: nn.Module, cls: Callable[..., object], eps: float) -> None:
    with pytest.raises(CertkitError, match="eps"):
        cls(linear_model, eps)


@pytest.mark.parametrize("cls", [PGD, APGD, TRADESAttack])
@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_bad_steps(linear_model: nn.Module, cls: Callable[..., object], steps: float) -> None:
    with pytest.raises(CertkitError, match="steps"):
        cls(linear_model, 0.1, steps=steps)


@pytest.mark.parametrize("kwargs", [
    {"restarts": 0}, {"loss": "hinge"}, {"norm": "l7"}, {"schedule": "zigzag"},
    {"rel_step": 0.0}, {"rel_step": float("nan")}, {"n_targets": 2},
])
def test_bad_options(linear_model: nn.Module, kwargs: dict[str, object]) -> None:
    with pytest.raises(CertkitError):
        PGD(linear_model, 0.1, **kwargs)


def test_bad_attack_name_and_option(linear_model: nn.Module) -> None:
    with pytest.raises(CertkitError, match="valid: fgsm"):
        make_attack("deepfool", linear_model, 0.1)
    with pytest.raises(CertkitError, match="restarts"):
        make_attack("fgsm", linear_model, 0.1, restarts=3)
    assert isinstance(make_attack("fgsm", linear_model, 0.1, restarts=3, strict=False), FGSM)


@pytest.fixture
def xy(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[0][:4].clone(), batch[1][:4].clone()


@pytest.mark.parametrize("cls", [FGSM, PGD, APGD])
def test_bad_inputs(linear_model: nn.Module, xy: tuple[torch.Tensor, torch.Tensor],
                    cls: Callable[..., object]) -> None:
    x, y = xy
    atk = cls(linear_model, 0.1, steps=2) if cls is not FGSM else cls(linear_model, 0.1)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    cases = [
        ((nan, y), "NaN"),
        ((x, y + 10), "out of range"),
        ((x, y - 10), ">= 0"),
        ((x, y[:2]), "do not fit"),
        ((x, y.float()), "integer"),
        ((x, None), "needs labels"),
        ((x * 3, y), r"\[0.0, 1.0\]"),
        ((x.double(), y), "float64"),
        ((x[0, 0, 0], y[:1]), "shape"),
        (("not a tensor", y), "tensor"),
    ]
    for args, msg in cases:
        with pytest.raises(CertkitError, match=msg):
            atk(*args)  # type: ignore[operator]


class BadShape(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], object]) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 10)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> object:
        return self.fn(self.lin(x.flatten(1)))


@pytest.mark.parametrize("fn", [
    lambda z: z[:, 0],                # (B,)
    lambda z: z[:, :1],               # one logit
    lambda z: z[None],                # 3-D
    lambda z: z[:1],                  # wrong batch
    lambda z: (z, z),                 # not a tensor
])
@pytest.mark.parametrize("cls", [FGSM, PGD, APGD, TRADESAttack])
def test_model_output_shape(xy: tuple[torch.Tensor, torch.Tensor],
                            fn: Callable[[torch.Tensor], object],
                            cls: Callable[..., object]) -> None:
    x, y = xy
    with pytest.raises(CertkitError, match="logits"):
        cls(BadShape(fn), 0.1)(x, y)  # type: ignore[operator]


class NaNGradient(nn.Module):
    """Finite logits whose input gradient is NaN (0 * the infinite slope of sqrt at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return self.lin(flat) + 0 * torch.sqrt((flat - flat.detach()).abs()).sum(1, keepdim=True)


def test_nan_logits(xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = xy
    with pytest.raises(CertkitError, match="NaN"):
        PGD(BadShape(lambda z: z * float("nan")), 0.1)(x, y)
    # Linf steps take sign(grad), and sign(NaN) == 0: no move. L2 steps would carry the NaN.
    assert bool(torch.isfinite(PGD(NaNGradient(), 0.1, steps=3)(x, y)).all())
    for atk in (FGSM(NaNGradient(), 0.5, norm="l2"), PGD(NaNGradient(), 0.5, norm="l2")):
        with pytest.raises(CertkitError, match="NaN"):
            atk(x, y)


def test_dlr_needs_three_classes(xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = xy
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(CertkitError, match="dlr"):
        APGD(model, 0.1, loss="dlr")(x, y)
    with pytest.raises(CertkitError, match="dlr"):
        FGSM(model, 0.1, loss="dlr")(x, y)


def test_spec_must_match_batch(linear_model: nn.Module,
                               xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = xy
    with pytest.raises(CertkitError, match="covers 2 samples"):
        PGD(linear_model, LinfBall(x[:2], 0.1))(x, y)
    with pytest.raises(CertkitError, match="not a Spec"):
        PGD(linear_model, lambda z: 0.1)(x, y)


def test_not_a_module(xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(CertkitError, match="nn.Module"):
        PGD(lambda z: z, 0.1)  # type: ignore[arg-type]
