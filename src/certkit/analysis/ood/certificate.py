"""The robustness certificate as an OOD detector (Franco et al. §4.2).

Score = minus the largest certified eps of the *predicted* class (label-free), found by the
boundary search on an eps grid (:func:`certkit.analysis.max_eps.max_robust_eps`, with its
PGD bracket and optional worker processes; all samples in one search). Thresholding the
score at ``-eps`` is "certified at eps = in-distribution", so the detector's ROC is the
paper's ROC obtained by varying eps over the grid. Samples robust at no grid point score
``+1`` (above every certified one).
"""

from __future__ import annotations

from torch import Tensor, nn

from ...errors import CertkitError
from ..max_eps import eps_grid, max_robust_eps
from .base import Detector


class Certificate(Detector):
    """Certified radius as an in-distribution score (higher radius = more ID)."""

    name = "certificate"
    title = "Certificate"
    paper = "Franco, Lorenz, Roscher & Günnemann, 2023"
    whole_batch = True

    def __init__(self, model: nn.Module, *, method: str = "crown", eps_max: float = 0.2,
                 points: int = 4000, batch_size: int = 256, bracket: bool = True,
                 workers: int = 1) -> None:
        super().__init__(model, batch_size=batch_size)
        if points < 2:
            raise CertkitError(f"points must be >= 2, got {points}")
        if workers < 1:
            raise CertkitError(f"workers must be >= 1, got {workers}")
        self.method, self.eps_max, self.points = method, float(eps_max), int(points)
        self.bracket, self.workers = bracket, workers
        self.grid = eps_grid(self.eps_max, self.points)

    def score(self, x: Tensor) -> Tensor:
        r = max_robust_eps(self.model, x, self.method, grid=self.grid, bracket=self.bracket,
                           workers=self.workers)
        return -r.radius()

    def settings(self) -> dict[str, object]:
        return {"method": self.method, "eps_max": self.eps_max, "points": self.points,
                "bracket": self.bracket}
