"""The interface every training method implements: a loss object for the one loop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..config import TrainConfig


@dataclass
class StepContext:
    """What a loss may need beside the batch: current eps, epoch and progress."""

    eps: float
    epoch: int
    frac: float  # fraction of the epoch done, in [0, 1)
    config: TrainConfig


@dataclass
class LossOutput:
    """A method's loss and the clean logits (for training accuracy), plus extra scalars."""

    loss: torch.Tensor
    logits: torch.Tensor
    extras: dict[str, float] = field(default_factory=dict)


class TrainingMethod(ABC):
    """One training method = one loss object.

    Subclasses set ``name``, ``summary`` and ``reference`` (drive the docs table and the CLI
    choices), ``uses_eps`` (the method trains against an eps-ball, so ``--eps`` must be > 0)
    and ``certified`` (the loss is computed from bounds: Shi et al.'s initialisation and
    warm-up regularisers apply).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    reference: ClassVar[str] = ""
    uses_eps: ClassVar[bool] = False
    certified: ClassVar[bool] = False

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TrainingMethod:
        """Build the method from the run configuration."""
        return cls()

    @abstractmethod
    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        """The training loss on a batch ``x`` in [0, 1] with labels ``y``."""
