"""The attack phase: projected gradient descent on the property's violation.

Every restart targets one group (disjunct) of a region and minimises its violation
``max_i (C_i f(x) - d_i)`` over the box with signed-gradient steps of a cosine-decaying
size (a fraction of each coordinate's width). First a screen: ``screen`` uniform random
points of the box (fewer for wide inputs) are evaluated in batches, any violating one is
checked, and the lowest-violation ones become the starts of half the restarts (the others
start from the centre and uniform points). On ACAS Xu some counterexamples fill a region
too small and too flat for gradient steps from a few starts to find, but a dense screen
hits them. Points that violate any group in the float32 network are handed to the
:class:`Checker`; only a counterexample confirmed in onnxruntime ends it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .counterexample import Checker
from .deadline import Deadline
from .result import Counterexample
from .spec import RegionSpec


def check_points(model: nn.Module, spec: RegionSpec, checker: Checker, x: torch.Tensor
                 ) -> tuple[Counterexample | None, torch.Tensor]:
    """The worst violation (over groups) of every point of ``x``, and a confirmed
    counterexample among the violating points (most violating first), if any."""
    with torch.no_grad():
        v = spec.violation(model(x)).amin(dim=1)
    hit = torch.nonzero(v < 0).flatten()
    if hit.numel() == 0:
        return None, v
    return checker.check(x[hit[torch.argsort(v[hit])]].double().numpy(), spec.region), v


class Screener:
    """Random points of a region's box, a chunk at a time, checked as counterexamples:
    input splitting calls :meth:`step` once per round, so a long search keeps sampling
    while easy instances, done in a few rounds, barely pay for it.

    Half of every chunk is uniform in the box; the other half is drawn around the ``elite``
    points of lowest violation seen so far (Gaussian steps of ``sigma`` times each input's
    width, clipped to the box; ``sigma`` shrinks by ``decay`` per chunk down to
    ``min_sigma`` and starts again every ``cycle`` chunks), a cross-entropy search. The
    elite comes from :meth:`screen` (the attack's screen of 2^17 uniform points), or else
    from the first chunk, all uniform. ACAS Xu 1_9 property 7 has
    counterexamples filling about 1e-6 of its box: uniform points need millions to hit one,
    the search around the best ones finds one within a few chunks."""

    def __init__(self, model: nn.Module, spec: RegionSpec, checker: Checker,
                 chunk: int = 8192, seed: int = 1, *, elite: int = 256, sigma: float = 0.1,
                 decay: float = 0.9, min_sigma: float = 0.005, cycle: int = 16) -> None:
        dtype = next(model.parameters()).dtype
        self.model, self.spec, self.checker, self.chunk = model, spec, checker, chunk
        self.lo, self.hi = spec.lower.to(dtype), spec.upper.to(dtype)
        self.gen = torch.Generator().manual_seed(seed)
        self.samples = 0
        self.n_elite, self.sigma, self.decay, self.min_sigma = elite, sigma, decay, min_sigma
        self.sigma0, self.cycle, self.steps = sigma, cycle, 0
        self.elite_x, self.elite_v = self.lo.new_empty(0, self.lo.numel()), self.lo.new_empty(0)

    def _around_elite(self, n: int) -> torch.Tensor:
        width = self.hi - self.lo
        parent = self.elite_x[torch.randint(0, self.elite_x.shape[0], (n,), generator=self.gen)]
        step = torch.randn(n, self.lo.numel(), generator=self.gen, dtype=self.lo.dtype)
        x = parent + self.sigma * width * step
        self.sigma = max(self.min_sigma, self.sigma * self.decay)
        self.steps += 1
        if self.steps % self.cycle == 0:  # out of a local minimum: wide steps again
            self.sigma = self.sigma0
        return torch.minimum(torch.maximum(x, self.lo), self.hi)

    def _check(self, x: torch.Tensor) -> Counterexample | None:
        """Check the points ``x`` and keep the lowest-violation ones as the elite."""
        self.samples += x.shape[0]
        found, v = check_points(self.model, self.spec, self.checker, x)
        if found is None and self.n_elite > 0:
            all_x, all_v = torch.cat([self.elite_x, x]), torch.cat([self.elite_v, v])
            best = torch.argsort(all_v)[: self.n_elite]
            self.elite_x, self.elite_v = all_x[best], all_v[best]
        return found

    def _uniform(self, n: int) -> torch.Tensor:
        u = torch.rand(n, self.lo.numel(), generator=self.gen, dtype=self.lo.dtype)
        return self.lo + (self.hi - self.lo) * u

    def screen(self, n: int, deadline: Deadline) -> Counterexample | None:
        """``n`` uniform points, in batches that fit the caches (the attack's screen)."""
        batch = max(1, min(n, (1 << 22) // max(1, self.lo.numel() + 64)))
        for _ in range(0, n, batch):
            if deadline.expired():
                break
            found = self._check(self._uniform(batch))
            if found is not None:
                return found
        return None

    def step(self) -> Counterexample | None:
        """One chunk of points; a confirmed counterexample, if one violates."""
        n_local = self.chunk // 2 if self.elite_x.shape[0] else 0
        x = self._uniform(self.chunk - n_local)
        if n_local:
            x = torch.cat([self._around_elite(n_local), x])
        return self._check(x)


def pgd_attack(model: nn.Module, spec: RegionSpec, checker: Checker, deadline: Deadline, *,
               restarts: int = 64, steps: int = 100, rel_step: float = 0.25,
               screen: int = 1 << 17, seed: int = 0, screener: Screener | None = None
               ) -> Counterexample | None:
    """Search the box of ``spec`` for a counterexample; None when none is confirmed.

    ``screener`` runs the screen (by default a fresh one) and keeps its lowest points,
    so the search that input splitting runs later starts from them; half the restarts
    start from the best of them (at most its ``elite`` size)."""
    dtype = next(model.parameters()).dtype
    lo, hi = spec.lower.to(dtype), spec.upper.to(dtype)
    width = hi - lo
    gen = torch.Generator().manual_seed(seed)
    x = lo + width * torch.rand(restarts, lo.numel(), generator=gen, dtype=dtype)
    x[0] = (lo + hi) / 2
    if screen > 0:
        n_screen = min(screen, max(restarts, (1 << 26) // max(1, lo.numel() * 64)))
        if screener is None:
            screener = Screener(model, spec, checker, seed=seed + 1,
                                elite=max(256, (restarts - 1) // 2))
        found = screener.screen(n_screen, deadline)
        if found is not None:
            return found
        best = screener.elite_x[: (restarts - 1) // 2].to(dtype)
        x[1:1 + best.shape[0]] = best
    target = torch.arange(restarts) % spec.n_groups
    for t in range(steps):
        if deadline.expired():
            return None
        x.requires_grad_(True)
        with torch.enable_grad():
            every = spec.violation(model(x))
            viol = every.gather(1, target[:, None]).squeeze(1)
            (grad,) = torch.autograd.grad(viol.sum(), x)
        with torch.no_grad():
            worst = every.amin(dim=1)  # any violated group is a counterexample
            hit = worst < 0
            if bool(hit.any()):
                order = torch.argsort(worst)[: int(hit.sum())]
                found = checker.check(x[order].double().numpy(), spec.region)
                if found is not None:
                    return found
            size = rel_step * 0.5 * (1 + math.cos(math.pi * t / steps)) + 1e-3
            x = torch.minimum(torch.maximum(x - size * width * grad.sign(), lo), hi).detach()
    return None
