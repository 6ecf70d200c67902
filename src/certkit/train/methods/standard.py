"""Standard training: cross-entropy on clean inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossOutput, StepContext, TrainingMethod


class Standard(TrainingMethod):
    """Plain cross-entropy, the baseline every robust method is compared with."""

    name = "standard"
    summary = "cross-entropy on clean inputs"
    reference = "-"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        logits = model(x)
        return LossOutput(F.cross_entropy(logits, y), logits)
