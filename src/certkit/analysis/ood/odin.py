"""ODIN (Liang et al. 2018): temperature scaling plus a small input perturbation.

``x~ = x - magnitude * sign(-grad_x log S_yhat(x; T))`` moves the input to *raise* the
temperature-scaled softmax score of its predicted class (in-distribution inputs gain more);
the score is ``-max_k softmax(f(x~) / T)_k``. Inputs stay in [0, 1] (clamped).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...errors import CertkitError
from .base import Detector


class ODIN(Detector):
    """Temperature-scaled MSP of a perturbed input."""

    name = "odin"
    title = "ODIN"
    paper = "Liang, Li & Srikant, ICLR 2018"
    needs_grad = True

    def __init__(self, model: nn.Module, *, temperature: float = 1000.0,
                 magnitude: float = 0.0014, batch_size: int = 256) -> None:
        super().__init__(model, batch_size=batch_size)
        if not temperature > 0 or not magnitude >= 0:
            raise CertkitError("ODIN needs temperature > 0 and magnitude >= 0")
        self.temperature, self.magnitude = float(temperature), float(magnitude)

    def perturb(self, x: Tensor) -> Tensor:
        """The preprocessed input ``x~``."""
        if self.magnitude == 0:
            return x
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            out = self.model(xg) / self.temperature
            loss = -out.log_softmax(dim=1).max(dim=1).values.sum()  # -log S_yhat
            (grad,) = torch.autograd.grad(loss, xg)
        return (x - self.magnitude * grad.sign()).clamp(0, 1).detach()

    def score(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            out = self.model(self.perturb(x)) / self.temperature
        return -out.softmax(dim=1).max(dim=1).values

    def settings(self) -> dict[str, float]:
        return {"temperature": self.temperature, "magnitude": self.magnitude}
