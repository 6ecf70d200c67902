"""The attack phase: projected gradient descent on the property's violation.

Every restart targets one group (disjunct) of a region and minimises its violation
``max_i (C_i f(x) - d_i)`` over the box with signed-gradient steps of a cosine-decaying
size (a fraction of each coordinate's width), starting from uniform random points (the
first from the centre). Points whose violation is negative in the float32 network are
handed to the :class:`Checker`; only a counterexample confirmed in onnxruntime ends it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .counterexample import Checker
from .deadline import Deadline
from .result import Counterexample
from .spec import RegionSpec


def pgd_attack(model: nn.Module, spec: RegionSpec, checker: Checker, deadline: Deadline, *,
               restarts: int = 64, steps: int = 100, rel_step: float = 0.25,
               seed: int = 0) -> Counterexample | None:
    """Search the box of ``spec`` for a counterexample; None when none is confirmed."""
    dtype = next(model.parameters()).dtype
    lo, hi = spec.lower.to(dtype), spec.upper.to(dtype)
    width = hi - lo
    gen = torch.Generator().manual_seed(seed)
    x = lo + width * torch.rand(restarts, lo.numel(), generator=gen, dtype=dtype)
    x[0] = (lo + hi) / 2
    target = torch.arange(restarts) % spec.n_groups
    for t in range(steps):
        if deadline.expired():
            return None
        x.requires_grad_(True)
        with torch.enable_grad():
            viol = spec.violation(model(x)).gather(1, target[:, None]).squeeze(1)
            (grad,) = torch.autograd.grad(viol.sum(), x)
        with torch.no_grad():
            hit = viol < 0
            if bool(hit.any()):
                order = torch.argsort(viol)[: int(hit.sum())]
                found = checker.check(x[order].double().numpy(), spec.region)
                if found is not None:
                    return found
            size = rel_step * 0.5 * (1 + math.cos(math.pi * t / steps)) + 1e-3
            x = torch.minimum(torch.maximum(x - size * width * grad.sign(), lo), hi).detach()
    return None
