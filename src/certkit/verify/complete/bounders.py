"""Bounding steps of branch and bound: lower bounds of ``C f(x)`` for a batch of boxes.

:class:`EngineBounder` runs certkit's bound engine (``crown``, ``alpha-crown``, ...) on the
float64 copy of the network, so it accepts every graph the engine accepts. Verdicts rest on
these float64 bounds, the convention of :mod:`certkit.verify.certify`: sound in exact
arithmetic, with float64 rounding (relative 1e-16 per operation) not further accounted for.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from ...bounds import BoundOptions, compute_bounds
from ...bounds.subdomains import SubdomainBounder


class Bounder(Protocol):
    """Anything that lower-bounds ``C f(x)`` over boxes."""

    name: str
    # pre-activation bounds of the last boxes (lower, upper: (N, total hidden)), or None
    intermediate: tuple[Tensor, Tensor] | None
    # input coefficients (N, m, n_in) of the last bounds' linear lower bounds, or None
    coefficients: Tensor | None

    def lower(self, lower: Tensor, upper: Tensor, C: Tensor,
              prior: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Lower bounds (N, m) of ``C f(x)`` over boxes ``lower``/``upper`` (N, n_in).

        ``prior``: pre-activation bounds known to hold on the boxes (as ``intermediate``
        gives them, for the boxes these were split from), which the bounder may use.
        """
        ...


class EngineBounder:
    """The bound engine's ``method`` on ``model`` (float64)."""

    def __init__(self, model: nn.Module, method: str = "crown",
                 options: BoundOptions | None = None) -> None:
        self.model, self.method = model, method
        self.options = options or BoundOptions(alpha_iterations=10, tighten_stable=True)
        self.name = f"engine:{method}"
        self.coefficients: Tensor | None = None
        self.intermediate: tuple[Tensor, Tensor] | None = None  # (the engine keeps none)

    def lower(self, lower: Tensor, upper: Tensor, C: Tensor,
              prior: tuple[Tensor, Tensor] | None = None) -> Tensor:
        n = lower.shape[0]
        with torch.no_grad():
            lb, _ = compute_bounds(self.model, lower, upper, method=self.method,
                                   C=C.expand(n, -1, -1), which="lower", options=self.options)
        return lb


CHUNK = 192  # boxes per bound call: larger batches fall out of the CPU caches (ACAS Xu:
# 640 boxes at once cost 1.5x the time per box of 160)


class BoxBounder:
    """The bound engine's input-splitting step on ``model`` (float64) over sub-boxes of
    ``[lower, upper]`` (1-D): :meth:`~certkit.bounds.subdomains.SubdomainBounder.boxes`,
    forward symbolic intervals then CROWN for the neurons they leave unstable (made for the
    few inputs of input splitting), alpha-CROWN on the output rows for
    ``alpha_iterations`` steps.

    ``coefficients`` holds the input coefficients of the last bounds (N, m, n_in), which
    branching heuristics use, ``unstable_counts`` how many neurons each box leaves unstable
    (N,), which decides when the MILP takes over, ``intermediate`` the boxes' ReLU input
    bounds, every ReLU side by side (lower and upper, each (N, total)): passed back as
    ``prior`` for boxes split from these, they are intersected in and spare the
    back-substitution of the neurons they already decide.
    """

    def __init__(self, model: nn.Module, lower: Tensor, upper: Tensor,
                 alpha_iterations: int = 0) -> None:
        self.engine = SubdomainBounder(model, lower[None], upper[None])
        self.alpha_iterations = alpha_iterations
        self.name = "engine:symbolic+" + ("alpha-crown" if alpha_iterations else "crown")
        self.coefficients: Tensor | None = None
        self.unstable_counts: Tensor | None = None
        self.intermediate: tuple[Tensor, Tensor] | None = None

    def lower(self, lower: Tensor, upper: Tensor, C: Tensor,
              prior: tuple[Tensor, Tensor] | None = None) -> Tensor:
        parts = [self._lower(lower[s:s + CHUNK], upper[s:s + CHUNK], C,
                             None if prior is None else (prior[0][s:s + CHUNK],
                                                         prior[1][s:s + CHUNK]))
                 for s in range(0, lower.shape[0], CHUNK)]
        lb, lam, ilo, ihi, counts = (torch.cat(t) for t in zip(*parts, strict=True))
        self.intermediate, self.unstable_counts, self.coefficients = (ilo, ihi), counts, lam
        return lb

    def _lower(self, lower: Tensor, upper: Tensor, C: Tensor,
               prior: tuple[Tensor, Tensor] | None) -> tuple[Tensor, ...]:
        sizes = self.engine.sizes
        given = None if prior is None else list(zip(torch.split(prior[0], sizes, dim=1),
                                                    torch.split(prior[1], sizes, dim=1),
                                                    strict=True))
        res = self.engine.boxes(lower, upper, C, given, iterations=self.alpha_iterations)
        counts = sum(u.sum(dim=1) for u in res.unstable)
        return (res.lower, res.input_rows, torch.cat([lo for lo, _ in res.pre_bounds], 1),
                torch.cat([hi for _, hi in res.pre_bounds], 1), counts)
