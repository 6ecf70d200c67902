"""Fast gradient sign method (Goodfellow et al. 2015), and its random-start variant.

Without a random start FGSM maximises the loss linearised at the centre: for Linf sets and
boxes that is the vertex picked by the gradient's signs, for L2 balls the step of length
eps along the gradient. With ``random_start`` it takes one step of ``rel_step * eps``
(default 1.25) from a uniform point of the set (Wong et al. 2020, "fast is better than free").
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..specs import LinfBall, Spec
from .base import Attack, Domain, SpecLike, check_positive
from .losses import get_loss
from .space import SearchSpace


class FGSM(Attack):
    """One gradient step: ``FGSM(model, eps)(x, y)``; ``loss`` is ``"ce"`` or ``"margin"``."""

    def __init__(self, model: nn.Module, spec: SpecLike, *, loss: str = "ce",
                 random_start: bool = False, rel_step: float | None = None,
                 norm: str = "linf", domain: Domain = (0.0, 1.0), seed: int | None = 0) -> None:
        super().__init__(model, spec, norm=norm, domain=domain, seed=seed)
        self.loss_name, self.loss_fn = loss, get_loss(loss)
        self.random_start = bool(random_start)
        default = 1.25 if self.random_start else 1.0
        self.rel_step = check_positive("rel_step", default if rel_step is None else rel_step)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "loss": self.loss_name, "random_start": self.random_start}

    def _run(self, x: torch.Tensor, y: torch.Tensor, spec: Spec) -> torch.Tensor:
        space = SearchSpace(spec)
        idx = torch.arange(x.shape[0], device=x.device)
        g = self.generator(x.device)
        if self.random_start:
            p0 = space.random(g)
        elif isinstance(spec, LinfBall) and spec.center is x and spec.center_inside:
            p0 = x  # already in the set; never written to
        else:
            p0 = space.center(x)
        _, _, _, grad = self.loss_grad(space, p0, idx, partial(self.loss_fn, y=y, target=None))
        vertex_rule = space.geometry == "linf" and not isinstance(spec, LinfBall)
        if vertex_rule and not self.random_start and self.rel_step == 1.0:
            lo, hi = space.set.input_box()
            vertex = torch.where(grad > 0, hi, torch.where(grad < 0, lo, p0))
            return space.set.project(vertex)
        return space.advance(p0, grad, self.rel_step)  # the caller projects onto the set
