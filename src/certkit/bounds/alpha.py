"""alpha-CROWN: optimise the lower ReLU slopes of the output rows by projected gradient.

Every output row (lower and upper rows separately) gets its own slope for every unstable
neuron, initialised with CROWN's adaptive choice, and Adam maximises the row's lower bound
with the slopes projected onto [0, 1] (any slope there is a valid relaxation, so every
iterate is sound). Intermediate bounds are CROWN's and stay fixed, as with auto_LiRPA's
default ``fix_interm_bounds``. The best slopes of each row are kept, the bound is evaluated
once more with them (so gradients reach the model parameters), and the result is the
elementwise maximum with CROWN's bound: never looser than ``crown``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backward import Context, backsubstitute
from .coeffs import Dense
from .crown import linear_intermediate, output_bounds
from .domain import InputDomain
from .graph import Graph
from .relax import Relax
from .result import BoundOptions, Interval


def _rows(graph: Graph, C: Tensor | None, which: str, b: int, like: Tensor) -> tuple[Tensor, int]:
    out = graph.nodes[graph.output]
    if C is None:
        C = torch.eye(out.numel, dtype=like.dtype, device=like.device).expand(b, -1, -1)
    rows = C.reshape(b, C.shape[1], *out.shape)
    blocks = ([rows] if which != "upper" else []) + ([-rows] if which != "lower" else [])
    return torch.cat(blocks, 1), C.shape[1]


def _stack(lo: Tensor, hi: Tensor, which: str) -> Tensor:
    """Output bounds as the lower bounds of the stacked rows (``-upper`` for upper rows)."""
    return torch.cat(([lo] if which != "upper" else []) + ([-hi] if which != "lower" else []), 1)


def _detached(relax: dict[int, Relax]) -> dict[int, Relax]:
    return {i: Relax(r.alpha.detach(), r.slope.detach(), r.icpt.detach(), r.unstable, r.active,
                     _index=r.unstable_index()) for i, r in relax.items()}


def alpha_crown(graph: Graph, domain: InputDomain, C: Tensor | None, which: str,
                options: BoundOptions) -> tuple[Interval, dict[int, Interval]]:
    """Bounds of ``C y`` by alpha-CROWN, and the (CROWN) intermediate bounds."""
    budget = options.chunk_elements
    bounds, relax = linear_intermediate(graph, domain, full=options.tighten_stable,
                                        budget=budget)
    ctx = Context(graph, domain, relax)
    crown_lo, crown_hi = output_bounds(ctx, C, which, budget)
    b = domain.batch_size
    rows, m = _rows(graph, C, which, b, domain.lower)
    r = rows.shape[1]
    opt_nodes = [i for i, rx in relax.items() if bool(rx.unstable.any())]
    fixed = _detached(relax)
    dom = InputDomain(domain.lower.detach(), domain.upper.detach(),
                      None if domain.l2_center is None else domain.l2_center.detach(),
                      None if domain.l2_radius is None else domain.l2_radius.detach())
    crown_rows = _stack(crown_lo, crown_hi, which)
    if opt_nodes and options.alpha_iterations > 0:
        alphas = {i: relax[i].initial_alpha_rows(r).detach().clone().requires_grad_(True)
                  for i in opt_nodes}
        best = {i: a.detach().clone() for i, a in alphas.items()}
        best_lb = crown_rows.detach().clone()
        optim = torch.optim.Adam(list(alphas.values()), lr=options.alpha_lr)
        sched = torch.optim.lr_scheduler.ExponentialLR(optim, options.alpha_lr_decay)
        frozen_rows = rows.detach()
        for _ in range(options.alpha_iterations):
            with torch.enable_grad():
                rx = dict(fixed)
                for i, a in alphas.items():
                    rx[i] = fixed[i].with_alpha(a)
                lb = backsubstitute(Context(graph, dom, rx), graph.output, Dense(frozen_rows))
                grads = torch.autograd.grad(-lb.sum(), list(alphas.values()), allow_unused=True)
            with torch.no_grad():
                better = lb.detach() > best_lb
                best_lb = torch.where(better, lb.detach(), best_lb)
                for i, a in alphas.items():
                    best[i] = torch.where(better.unsqueeze(-1), a.detach().clamp(0.0, 1.0),
                                          best[i])
            for a, g in zip(alphas.values(), grads, strict=True):
                a.grad = torch.zeros_like(a) if g is None else g
            optim.step()
            sched.step()
            with torch.no_grad():
                for a in alphas.values():
                    a.clamp_(0.0, 1.0)
        final = dict(relax)
        for i, a in best.items():
            final[i] = relax[i].with_alpha(a)
        optimised = backsubstitute(Context(graph, domain, final), graph.output, Dense(rows))
        lbs = torch.maximum(optimised, crown_rows)
    else:
        lbs = crown_rows
    inf = torch.full((b, m), float("inf"), dtype=lbs.dtype, device=lbs.device)
    lower = lbs[:, :m] if which != "upper" else -inf
    upper = -lbs[:, -m:] if which != "lower" else inf
    return (lower, upper), bounds
