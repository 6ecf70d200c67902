"""Auto-PGD (Croce & Hein 2020): the parameter-free steps of AutoAttack.

Starting from a step size of ``2 eps``, every step moves along the gradient, projects, and
mixes in momentum ``x_k - x_{k-1}`` (weight ``1 - momentum``). At checkpoints after 22%,
then progressively shorter intervals (down to 6%, shrinking by 3% of the steps each time),
a sample halves its step size and restarts from its best point when the loss increased in at
most a fraction ``rho`` of the steps since the last checkpoint, or when its step size was
not reduced last time and its best loss has not improved since. ``APGD(..., loss="ce")`` is
APGD-CE and ``loss="dlr"`` APGD-DLR.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .base import Domain, SpecLike, check_positive
from .iterative import IterativeAttack
from .space import SearchSpace
from .tracker import BestTracker


def checkpoint_gaps(steps: int) -> tuple[int, int, int]:
    """First checkpoint interval, its decrement, and the minimum interval (in steps)."""
    return max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)


class APGD(IterativeAttack):
    """APGD-CE / APGD-DLR: ``APGD(model, eps, steps=100, loss="dlr")(x, y)``.

    Takes the arguments of :class:`~certkit.attacks.PGD` except the step size and schedule,
    plus ``rho`` (the oscillation threshold, 0.75) and ``momentum`` (0.75). Random starts
    lie at full radius, as in the paper.
    """

    sphere_start = True


    def __init__(self, model: nn.Module, spec: SpecLike, *, steps: int = 100, restarts: int = 1,
                 loss: str = "ce", rho: float = 0.75, momentum: float = 0.75,
                 targeted: bool = False, n_targets: int | None = None, random_start: bool = True,
                 early_stop: bool = True, norm: str = "linf", domain: Domain = (0.0, 1.0),
                 seed: int | None = 0) -> None:
        super().__init__(model, spec, steps=steps, restarts=restarts, loss=loss,
                         targeted=targeted, n_targets=n_targets, random_start=random_start,
                         early_stop=early_stop, norm=norm, domain=domain, seed=seed)
        self.rho = check_positive("rho", rho)
        self.momentum = check_positive("momentum", momentum)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rho": self.rho}

    def _iterate(self, space: SearchSpace, p: torch.Tensor, tracker: BestTracker,
                 y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        n = p.shape[0]
        grad = torch.zeros_like(p)
        loss_best = torch.full((n,), float("-inf"), device=p.device, dtype=p.dtype)
        p_best, grad_best = p.clone(), grad.clone()
        p, p_prev = p.clone(), p.clone()
        eta = (2.0 * space.radius).expand(n, *space.radius.shape[1:]).clone()
        n_incr = torch.zeros(n, device=p.device)
        reduced_last = torch.ones(n, dtype=torch.bool, device=p.device)
        gap, decr, gap_min = checkpoint_gaps(self.steps)
        since = 0
        idx = tracker.active_rows()
        loss_prev = loss_best.clone()
        loss_last = loss_best.clone()

        def evaluate(idx: torch.Tensor) -> None:
            yi = y[idx]
            ti = None if target is None else target[idx]
            fn = partial(self.row_loss, y=yi, target=ti)
            rows, z, loss, g = self.loss_grad(space, p, idx, fn)
            self.record(tracker, idx, rows, z, yi, loss if ti is None else None)
            grad[idx] = g
            up = loss > loss_best[idx]
            better = idx[up]
            p_best[better], grad_best[better], loss_best[better] = rows[up], g[up], loss[up]
            n_incr[idx] += (loss > loss_prev[idx]).to(n_incr.dtype)
            loss_prev[idx] = loss

        if idx.numel():
            evaluate(idx)
            loss_last.copy_(loss_best)
            n_incr.zero_()  # count increases between iterates only
        for i in range(self.steps):
            idx = tracker.active_rows()
            if idx.numel() == 0:
                break
            a = self.momentum if i > 0 else 1.0
            rows, e = p[idx], eta[idx]
            z1 = space.project_rows(p, idx, rows + e * space.direction(grad[idx]))
            new = rows + a * (z1 - rows) + (1 - a) * (rows - p_prev[idx])
            p_prev[idx] = rows
            p[idx] = space.project_rows(p, idx, new)
            evaluate(idx)
            since += 1
            if since == gap:
                osc = n_incr <= gap * self.rho
                stalled = ~reduced_last & (loss_last >= loss_best)
                reduced_last = osc | stalled
                cut = reduced_last & tracker.active
                eta[cut] /= 2.0
                p[cut], grad[cut] = p_best[cut], grad_best[cut]
                loss_last.copy_(loss_best)
                n_incr.zero_()
                since, gap = 0, max(gap - decr, gap_min)
        return p
