"""Helpers shared by the training methods: inner attacks and side-effect-free logits.

Inner attacks draw their random starts from torch's global generator (``seed=None``), whose
state the checkpoint saves, so attack-based runs resume bit-identically. They run with the
model in eval mode (the attack base class freezes it), so BatchNorm's running statistics are
updated only by the training forward passes.
"""

from __future__ import annotations

import torch
from torch import nn

from ...attacks import FGSM, PGD, TRADESAttack
from ...attacks.base import frozen
from ..config import TrainConfig


def scalars(**values: torch.Tensor) -> dict[str, float]:
    """Detached Python floats of loss terms, for :attr:`LossOutput.extras`."""
    return {k: float(v.detach()) for k, v in values.items()}


def eval_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits in eval mode without gradients (no BatchNorm statistics are touched)."""
    with frozen(model), torch.no_grad():
        return model(x)


def has_train_batchnorm(model: nn.Module) -> bool:
    """Whether a BatchNorm layer of ``model`` is in train mode (running stats to update)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
               for m in model.modules())


def pgd_point(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
              cfg: TrainConfig) -> torch.Tensor:
    """The highest-CE point PGD finds in the Linf eps-ball (``--attack-steps/-restarts``)."""
    step = cfg.attack_step_size or 2.5 / cfg.attack_steps  # Madry et al.'s constant step
    atk = PGD(model, eps, steps=cfg.attack_steps, restarts=cfg.attack_restarts, loss="ce",
              rel_step=step, schedule="constant", early_stop=False, seed=None)
    return atk(x, y)


def fgsm_point(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
               random_start: bool) -> torch.Tensor:
    """The FGSM point in the Linf eps-ball (optionally from a random start)."""
    return FGSM(model, eps, random_start=random_start, seed=None)(x, y)


def trades_point(model: nn.Module, x: torch.Tensor, eps: float,
                 cfg: TrainConfig) -> torch.Tensor:
    """The TRADES inner maximiser of ``KL(f(x) || f(x'))`` in the Linf eps-ball."""
    atk = TRADESAttack(model, eps, steps=cfg.attack_steps, rel_step=cfg.attack_step_size,
                       seed=None)
    return atk(x)
