"""Perturbation sets ("specs") over a batch of inputs.

A spec describes, for every sample of a batch, the set of inputs an adversary may choose.
Attacks use ``project``/``random_start``/``contains``; bound engines use ``input_box`` (and
richer lifts added by subclasses). Engines never need to know which perturbation they bound.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import CertkitError


def finite_range(name: str, t: torch.Tensor) -> tuple[float, float]:
    """``(min, max)`` of ``t`` in one pass; a clear error when it holds NaN or Inf."""
    if t.numel() == 0:
        return 0.0, 0.0
    lo, hi = (float(v) for v in torch.aminmax(t.detach()))  # NaN propagates into both
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CertkitError(f"{name} contains NaN or Inf")
    return lo, hi


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise a clear error when ``t`` holds NaN or Inf."""
    finite_range(name, t)


def as_batch_eps(eps: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """eps as a tensor broadcastable against ``x`` (B, ...): a scalar or one value per sample."""
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if not bool(torch.isfinite(e).all()):
        raise CertkitError("eps must be finite")
    if bool((e < 0).any()):
        raise CertkitError(f"eps must be >= 0, got {eps}")
    if e.dim() == 0:
        return e
    if e.dim() != 1 or e.shape[0] != x.shape[0]:
        raise CertkitError(f"eps must be a scalar or have one value per sample ({x.shape[0]})")
    return e.view(-1, *([1] * (x.dim() - 1)))


@dataclass
class Lifted:
    """A spec lifted for the bound engines: ``prefix`` (or nothing) then the model, over a set.

    The engines bound ``model(prefix(z))`` for ``z`` in the box ``[lower, upper]``, further
    intersected with the L2 ball ``||z - l2_center||_2 <= l2_radius`` when ``l2_center`` is
    given (linear methods use the dual norm there). ``clean`` is the unperturbed engine input
    (it fixes the batch statistics of train-mode BatchNorm layers).
    """

    lower: torch.Tensor
    upper: torch.Tensor
    clean: torch.Tensor
    prefix: nn.Module | None = None
    l2_center: torch.Tensor | None = None
    l2_radius: torch.Tensor | None = None  # (B,)


class Spec(ABC):
    """A batch of input sets, one per sample."""

    @property
    @abstractmethod
    def batch_size(self) -> int:
        """Number of samples the spec covers."""

    @abstractmethod
    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Elementwise (lower, upper), shape (B, *input_shape), enclosing the set."""

    @abstractmethod
    def project(self, x: torch.Tensor) -> torch.Tensor:
        """A point of the set for every row of ``x`` (the nearest one where cheap)."""

    @abstractmethod
    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        """Boolean (B,): whether each row of ``x`` lies in its set (up to ``tol``)."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` random points of every set, shape (n, B, *input_shape)."""

    def random_start(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One random point per set, shape (B, *input_shape)."""
        return self.sample(1, generator)[0]

    def to(self, dtype: torch.dtype) -> Spec:
        """The same set with its tensors in ``dtype``, rebuilt from its definition.

        Certification recomputes bounds in float64; a ball is rebuilt from its centre and
        radius rather than from the rounded float32 box, so the float64 set is the exact one.
        """
        raise CertkitError(f"{type(self).__name__} cannot change its floating-point type")

    def lift(self) -> Lifted:
        """The set as the engines see it; by default the enclosing box with its midpoint."""
        lo, hi = self.input_box()
        return Lifted(lower=lo, upper=hi, clean=(lo + hi) / 2)
