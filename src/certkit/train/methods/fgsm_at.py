"""FGSM adversarial training: ``alpha * L(x) + (1 - alpha) * L(x')`` (survey eq. 9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .common import fgsm_point, scalars


class FGSMAT(TrainingMethod):
    """Goodfellow et al.'s weighted objective with ``x'`` the FGSM point at the current eps.

    ``alpha`` (``--alpha``, default 0.5) weights the clean loss; ``random_start``
    (``--fgsm-random-start``) takes the step from a uniform point of the ball (Wong et al.).
    """

    name = "fgsm-at"
    summary = "alpha * CE(x) + (1 - alpha) * CE(FGSM point)"
    reference = "Goodfellow et al. 2015; survey (Anderson et al.) eq. 9"
    uses_eps = True

    def __init__(self, alpha: float = 0.5, random_start: bool = False) -> None:
        self.alpha, self.random_start = float(alpha), bool(random_start)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> FGSMAT:
        return cls(cfg.alpha, cfg.fgsm_random_start)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        x_adv = fgsm_point(model, x, y, ctx.eps, self.random_start) if ctx.eps > 0 else x
        logits = model(x)
        clean = F.cross_entropy(logits, y)
        if self.alpha >= 1.0:
            return LossOutput(clean, logits)
        adv = F.cross_entropy(model(x_adv), y)
        loss = self.alpha * clean + (1.0 - self.alpha) * adv
        return LossOutput(loss, logits, scalars(clean_loss=clean, adv_loss=adv))
