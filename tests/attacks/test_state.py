"""Attacks leave the model as they found it: modes, requires_grad, .grad, BN statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.attacks import APGD, FGSM, PGD, Attack, TRADESAttack


def _bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(32, 10))


def _attacks(model: nn.Module) -> list[Attack]:
    return [FGSM(model, 0.1), PGD(model, 0.1, steps=3, restarts=2),
            APGD(model, 0.1, steps=5, loss="dlr"), TRADESAttack(model, 0.1, steps=3)]


@pytest.mark.parametrize("which", range(4))
def test_mode_and_gradients_restored(batch: tuple[torch.Tensor, torch.Tensor],
                                     which: int) -> None:
    x, y = batch
    model = _bn_model()
    model.train()
    model[4].eval()  # mixed modes must come back exactly
    model[1].bias.requires_grad_(False)
    nn.functional.cross_entropy(model(x), y).backward()
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    modes = {n: m.training for n, m in model.named_modules()}
    stats = {k: v.clone() for k, v in model.state_dict().items()}

    _attacks(model)[which](x, y)

    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    for n, p in model.named_parameters():
        if grads[n] is None:
            assert p.grad is None
        else:
            assert torch.equal(p.grad, grads[n])
    for k, v in model.state_dict().items():
        assert torch.equal(v, stats[k]), k  # BN running stats untouched (eval inside)


def test_restored_after_error(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    model = _bn_model().train()
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the attack
        PGD(model, 0.1, steps=2)(x, y + 100)
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def test_inside_no_grad_and_inference_mode(digits_mlp: nn.Module,
                                           batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    ref = PGD(digits_mlp, 0.1, steps=5)(x, y)
    with torch.no_grad():
        a = PGD(digits_mlp, 0.1, steps=5)(x, y)
    with torch.inference_mode():
        xi, yi = x.clone(), y.clone()
        b = PGD(digits_mlp, 0.1, steps=5)(xi, yi)
    assert torch.equal(a, ref)
    assert torch.equal(b, ref)


def test_input_not_modified_and_seeded(digits_mlp: nn.Module,
                                       batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    x0 = x.clone()
    a = PGD(digits_mlp, 0.1, steps=5, restarts=2, seed=7)(x, y)
    b = PGD(digits_mlp, 0.1, steps=5, restarts=2, seed=7)(x, y)
    assert torch.equal(x, x0)
    assert torch.equal(a, b)


def test_params_not_differentiated(digits_mlp: nn.Module,
                                   batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """TRADESAttack output carries no graph to the parameters."""
    x, y = batch
    x_adv = TRADESAttack(digits_mlp, 0.1, steps=3)(x)
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert all(p.grad is None for p in digits_mlp.parameters())
