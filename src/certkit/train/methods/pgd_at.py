"""PGD adversarial training (Madry et al. 2018): the loss at the PGD point."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .common import eval_logits, pgd_point


class PGDAT(TrainingMethod):
    """``CE(f(x'), y)`` with ``x'`` the highest-loss point of a CE PGD attack.

    ``--attack-steps`` steps of ``--attack-step-size * eps`` (default ``2.5 / steps``), from
    a uniform random start, ``--attack-restarts`` restarts. The logits reported for the
    training accuracy are the clean ones (eval mode, no gradient).
    """

    name = "pgd-at"
    summary = "CE at the PGD point (min-max training)"
    reference = "Madry et al. 2018; survey (Anderson et al.) eq. 10"
    uses_eps = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> PGDAT:
        return cls(cfg)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        if ctx.eps <= 0:
            logits = model(x)
            return LossOutput(F.cross_entropy(logits, y), logits)
        x_adv = pgd_point(model, x, y, ctx.eps, self.cfg)
        clean = eval_logits(model, x)
        loss = F.cross_entropy(model(x_adv), y)
        return LossOutput(loss, clean)
