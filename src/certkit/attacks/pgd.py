"""Projected gradient descent (Madry et al. 2018) with restarts, targets and a step schedule.

Linf sets take signed-gradient steps, L2 balls normalised-gradient steps, of
``rel_step * eps`` (``rel_step * half-width`` per coordinate for a general box). The SABR
evaluation protocol is ``PGD(model, eps, steps=50, restarts=5, loss="margin", targeted=True)``.

The default step is large and decays: ``min(2.5, 10 / steps) * eps``, halved after half and
again after three quarters of the steps (0.2, 0.1, 0.05 eps for 50 steps). Long attacks with
Madry et al.'s constant ``2.5 * eps / steps`` travel too little per step to leave poor
starting points (``benchmarks/attacks.py`` measures both); adversarial training passes its
own constant step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from ..errors import choice_error
from .base import Domain, SpecLike, check_positive
from .iterative import IterativeAttack
from .space import SearchSpace
from .tracker import BestTracker

Schedule = Callable[[int, int], float]


def _constant(t: int, steps: int) -> float:
    return 1.0


def _cosine(t: int, steps: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t / steps))


def _halving(t: int, steps: int) -> float:
    return 1.0 if t < steps / 2 else 0.5 if t < 3 * steps / 4 else 0.25


SCHEDULES: dict[str, Schedule] = {"constant": _constant, "cosine": _cosine, "step": _halving}


class PGD(IterativeAttack):
    """PGD: ``PGD(model, eps, steps=50, restarts=5, loss="margin")(x, y)``.

    Args:
        model: classifier on inputs in [0, 1] (normalisation inside the model).
        spec: eps (ball around ``x``), a Spec for the batch, or a factory ``x -> Spec``.
        steps: gradient steps per restart.
        restarts: random restarts, run together as copies of the batch.
        loss: ``"ce"``, ``"margin"`` (Carlini–Wagner) or ``"dlr"``.
        rel_step: step size as a fraction of eps (default ``min(2.5, 10 / steps)``).
        schedule: ``"step"`` (halve at 1/2 and 3/4, the default), ``"constant"``,
            ``"cosine"`` or a function ``(t, steps) -> factor``.
        targeted: attack every other class as a target (``n_targets``: only the top ones).
        random_start: start uniformly in the set (else the first restart starts at ``x``).
        early_stop: stop attacking a sample once it is misclassified; without it every
            copy runs all steps and the highest-loss point is returned (adversarial training).
        norm: ``"linf"`` or ``"l2"`` when ``spec`` is an eps.
        seed: seed of the attack's own generator (None: torch's global one).
    """

    def __init__(self, model: nn.Module, spec: SpecLike, *, steps: int = 50, restarts: int = 1,
                 loss: str = "ce", rel_step: float | None = None,
                 schedule: str | Schedule = "step", targeted: bool = False,
                 n_targets: int | None = None, random_start: bool = True,
                 early_stop: bool = True, norm: str = "linf", domain: Domain = (0.0, 1.0),
                 seed: int | None = 0) -> None:
        super().__init__(model, spec, steps=steps, restarts=restarts, loss=loss,
                         targeted=targeted, n_targets=n_targets, random_start=random_start,
                         early_stop=early_stop, norm=norm, domain=domain, seed=seed)
        self.rel_step = check_positive("rel_step", min(2.5, 10.0 / self.steps) if rel_step is None
                                       else rel_step)
        if callable(schedule):
            self.schedule = schedule
        elif schedule in SCHEDULES:
            self.schedule = SCHEDULES[schedule]
        else:
            raise choice_error("step schedule", schedule, list(SCHEDULES))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rel_step": round(self.rel_step, 6)}

    def _iterate(self, space: SearchSpace, p: torch.Tensor, tracker: BestTracker,
                 y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        p = p.clone()
        for t in range(self.steps):
            idx = tracker.active_rows()
            if idx.numel() == 0:
                break
            yi = y[idx]
            ti = None if target is None else target[idx]
            fn = partial(self.row_loss, y=yi, target=ti)
            rows, z, loss, grad = self.loss_grad(space, p, idx, fn)
            self.record(tracker, idx, rows, z, yi, loss if ti is None else None)
            keep = tracker.active[idx]
            if not bool(keep.all()):
                idx, rows, grad = idx[keep], rows[keep], grad[keep]
            size = self.rel_step * self.schedule(t, self.steps)
            p[idx] = space.move(p, idx, rows, grad, size)
        return p
