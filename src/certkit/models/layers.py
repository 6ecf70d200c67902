"""Layers that certkit models are built from, beside torch.nn's own.

The bound engine has one rule set per layer type; these are the two types torch lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``: the first layer of every zoo model.

    Keeping normalisation inside the model means inputs and perturbations live in [0, 1]
    for every dataset.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(list(mean), dtype=torch.float32)
        std_t = torch.as_tensor(list(std), dtype=torch.float32)
        if mean_t.shape != std_t.shape or mean_t.ndim != 1:
            raise ValueError("mean and std must be 1-D sequences of equal length")
        if bool((std_t <= 0).any()):
            raise ValueError("std must be positive")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def _view(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # (C,) -> (C, 1, 1) for images, (C,) for flat inputs
        return t.to(x.dtype).view(-1, *([1] * (x.dim() - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._view(self.mean, x)) / self._view(self.std, x)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


class Clip(nn.Module):
    """Elementwise clamp to ``[lower, upper]`` (default the image domain [0, 1])."""

    def __init__(self, lower: float = 0.0, upper: float = 1.0) -> None:
        super().__init__()
        if lower > upper:
            raise ValueError("Clip needs lower <= upper")
        self.lower = float(lower)
        self.upper = float(upper)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.lower, self.upper)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"
