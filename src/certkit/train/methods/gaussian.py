"""Gaussian noise augmentation: the base-classifier training of randomized smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod


class Gaussian(TrainingMethod):
    """``CE(f(x + sigma * N(0, I)), y)`` (Cohen et al. 2019; survey section 4.2).

    The noise is not clipped to [0, 1]: the smoothed classifier is defined on unclipped noisy
    inputs, and certification samples the same way. The logits reported for the training
    accuracy are those of the noisy inputs.
    """

    name = "gaussian"
    summary = "CE on inputs with Gaussian noise of std sigma"
    reference = "Cohen et al. 2019 (randomized smoothing); survey section 4.2"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> Gaussian:
        return cls(cfg.sigma)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        noisy = x + self.sigma * torch.randn_like(x)
        logits = model(noisy)
        return LossOutput(F.cross_entropy(logits, y), logits)
