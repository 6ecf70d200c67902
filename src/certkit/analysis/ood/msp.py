"""Maximum softmax probability (Hendrycks & Gimpel 2017): score = -max_k softmax(f(x))_k."""

from __future__ import annotations

from torch import Tensor

from .base import Detector, logits


class MSP(Detector):
    """Baseline detector: low top-class confidence means OOD."""

    name = "msp"
    title = "MSP"
    paper = "Hendrycks & Gimpel, ICLR 2017"

    def score(self, x: Tensor) -> Tensor:
        return -logits(self.model, x).softmax(dim=1).max(dim=1).values
