"""Energy score (Liu et al. 2020): score = E(x) = -T * logsumexp(f(x) / T)."""

from __future__ import annotations

from torch import Tensor, nn

from ...errors import CertkitError
from .base import Detector, logits


class Energy(Detector):
    """Free energy of the logits; in-distribution inputs have lower energy."""

    name = "energy"
    title = "Energy"
    paper = "Liu, Wang, Owens & Li, NeurIPS 2020"

    def __init__(self, model: nn.Module, *, temperature: float = 1.0,
                 batch_size: int = 256) -> None:
        super().__init__(model, batch_size=batch_size)
        if not temperature > 0:
            raise CertkitError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def score(self, x: Tensor) -> Tensor:
        t = self.temperature
        return -t * (logits(self.model, x) / t).logsumexp(dim=1)

    def settings(self) -> dict[str, float]:
        return {"temperature": self.temperature}
