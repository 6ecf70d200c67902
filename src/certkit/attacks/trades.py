"""The TRADES inner maximisation (Zhang et al. 2019, Algorithm 1, step 7-10).

Starting from ``x + 0.001 * N(0, I)`` (``x`` itself is a stationary point of the objective),
it ascends ``KL(f(x) || f(x'))`` with signed (Linf) or normalised (L2) gradient steps,
projecting onto the set, and returns the last iterate. Labels are not needed. The result is
detached: the TRADES loss then evaluates the model on it with gradients.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..specs import Spec
from .base import Attack, Domain, SpecLike, check_int, check_positive
from .losses import kl_to_clean
from .space import SearchSpace


class TRADESAttack(Attack):
    """``TRADESAttack(model, eps, steps=10)(x)``: KL-maximising points around ``x``."""

    needs_labels = False

    def __init__(self, model: nn.Module, spec: SpecLike, *, steps: int = 10,
                 rel_step: float | None = None, noise: float = 0.001, norm: str = "linf",
                 domain: Domain = (0.0, 1.0), seed: int | None = None) -> None:
        super().__init__(model, spec, norm=norm, domain=domain, seed=seed)
        self.steps = check_int("steps", steps, 1)
        self.rel_step = check_positive("rel_step", 2.5 / self.steps if rel_step is None
                                       else rel_step)
        self.noise = float(noise)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "steps": self.steps, "rel_step": round(self.rel_step, 6)}

    def _run(self, x: torch.Tensor, y: torch.Tensor, spec: Spec) -> torch.Tensor:
        space = SearchSpace(spec)
        idx = torch.arange(x.shape[0], device=x.device)
        with torch.no_grad():
            p_clean = F.softmax(self.forward(space.to_input(space.center(x))), dim=1)
        p = space.center(x)
        g = self.generator(x.device)
        noise = torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype)
        p = space.set.project(p + self.noise * noise)
        for _ in range(self.steps):
            _, _, _, grad = self.loss_grad(space, p, idx, lambda z: kl_to_clean(z, p_clean))
            p = space.step(p, grad, self.rel_step)
        return p
