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


def _screen(model: nn.Module, spec: RegionSpec, checker: Checker, deadline: Deadline,
            lo: torch.Tensor, hi: torch.Tensor, n: int, keep: int,
            gen: torch.Generator) -> tuple[Counterexample | None, torch.Tensor]:
    """Evaluate ``n`` uniform points of the box: a confirmed counterexample, or the ``keep``
    points of lowest violation (of any group)."""
    batch = max(1, min(n, (1 << 22) // max(1, lo.numel() + 64)))
    best_x, best_v = lo[:0], lo.new_empty(0)
    for _ in range(0, n, batch):
        if deadline.expired():
            break
        x = lo + (hi - lo) * torch.rand(batch, lo.numel(), generator=gen, dtype=lo.dtype)
        found, v = check_points(model, spec, checker, x)
        if found is not None:
            return found, best_x
        best_x, best_v = torch.cat([best_x, x]), torch.cat([best_v, v])
        order = torch.argsort(best_v)[:keep]
        best_x, best_v = best_x[order], best_v[order]
    return None, best_x


class Screener:
    """Uniform random points of a region's box, a chunk at a time, checked as
    counterexamples: input splitting calls :meth:`step` once per round, so a long search
    keeps sampling (millions of points over a competition timeout) while easy instances,
    done in a few rounds, barely pay for it."""

    def __init__(self, model: nn.Module, spec: RegionSpec, checker: Checker,
                 chunk: int = 8192, seed: int = 1) -> None:
        dtype = next(model.parameters()).dtype
        self.model, self.spec, self.checker, self.chunk = model, spec, checker, chunk
        self.lo, self.hi = spec.lower.to(dtype), spec.upper.to(dtype)
        self.gen = torch.Generator().manual_seed(seed)
        self.samples = 0

    def step(self) -> Counterexample | None:
        """One chunk of points; a confirmed counterexample, if one violates."""
        x = self.lo + (self.hi - self.lo) * torch.rand(self.chunk, self.lo.numel(),
                                                       generator=self.gen, dtype=self.lo.dtype)
        self.samples += self.chunk
        return check_points(self.model, self.spec, self.checker, x)[0]


def pgd_attack(model: nn.Module, spec: RegionSpec, checker: Checker, deadline: Deadline, *,
               restarts: int = 64, steps: int = 100, rel_step: float = 0.25,
               screen: int = 1 << 17, seed: int = 0) -> Counterexample | None:
    """Search the box of ``spec`` for a counterexample; None when none is confirmed."""
    dtype = next(model.parameters()).dtype
    lo, hi = spec.lower.to(dtype), spec.upper.to(dtype)
    width = hi - lo
    gen = torch.Generator().manual_seed(seed)
    x = lo + width * torch.rand(restarts, lo.numel(), generator=gen, dtype=dtype)
    x[0] = (lo + hi) / 2
    if screen > 0:
        n_screen = min(screen, max(restarts, (1 << 26) // max(1, lo.numel() * 64)))
        found, best = _screen(model, spec, checker, deadline, lo, hi, n_screen,
                              (restarts - 1) // 2, gen)
        if found is not None:
            return found
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
