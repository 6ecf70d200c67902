"""TRADES (Zhang et al. 2019): ``CE(f(x), y) + beta * KL(f(x) || f(x'))``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .common import scalars, trades_point


def trades_kl(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``KL(softmax(clean) || softmax(adv))``; gradients flow through both."""
    log_p = F.log_softmax(logits_clean, dim=1)
    log_q = F.log_softmax(logits_adv, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


class TRADES(TrainingMethod):
    """Algorithm 1 of the TRADES/BN paper, with ``beta = 1/lambda`` (``--beta``).

    The inner maximisation (``--attack-steps`` signed steps on the KL from ``x + 0.001 N``)
    runs in eval mode; the loss is evaluated in train mode on the clean and the found point.
    Larger ``beta`` trades clean accuracy for robustness.
    """

    name = "trades"
    summary = "CE(x) + beta * KL(f(x) || f(x')), x' maximising the KL"
    reference = "Zhang et al. 2019 (TRADES); TRADES/BN paper Algorithm 1"
    uses_eps = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.beta = cfg, float(cfg.beta)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TRADES:
        return cls(cfg)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        logits = model(x)
        natural = F.cross_entropy(logits, y)
        if ctx.eps <= 0 or self.beta == 0:
            return LossOutput(natural, logits)
        x_adv = trades_point(model, x, ctx.eps, self.cfg)
        kl = trades_kl(logits, model(x_adv))
        return LossOutput(natural + self.beta * kl, logits,
                          scalars(natural_loss=natural, kl=kl))
