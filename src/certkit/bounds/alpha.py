"""alpha-CROWN and beta-CROWN: optimise the relaxation of the output rows by projected gradient.

alpha-CROWN (Xu et al. 2021): every output row (lower and upper rows separately) gets its own
lower slope for every unstable neuron, initialised with CROWN's adaptive choice, and Adam
maximises the row's lower bound with the slopes projected onto [0, 1] (any slope there is a
valid relaxation, so every iterate is sound). Intermediate bounds are CROWN's and stay fixed,
as with auto_LiRPA's default ``fix_interm_bounds``. The best slopes of each row are kept, the
bound is evaluated once more with them (so gradients reach the model parameters), and the
result is the elementwise maximum with CROWN's bound: never looser than ``crown``.

beta-CROWN (Wang et al. 2021) on a domain with ReLU split constraints: after the alpha stage,
slopes and the splits' multipliers ``beta >= 0`` (see :mod:`.relax`) are optimised jointly,
starting from the best slopes and ``beta = 0``. The best iterate of the two stages is kept, so
the bound is never looser than alpha-CROWN's on the same subdomain; without splits the two
methods are the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .adam import Adam
from .backward import Context, backsubstitute
from .coeffs import Dense
from .crown import linear_intermediate, output_bounds, relax_of, write_at
from .domain import InputDomain
from .graph import Graph
from .relax import Relax, selected
from .result import BoundOptions, Interval

Params = dict[int, Tensor]


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


def with_params(relax: dict[int, Relax], alphas: Params, betas: Params) -> dict[int, Relax]:
    """The relaxations with per-row slopes and split multipliers where given."""
    out = dict(relax)
    for i, a in alphas.items():
        out[i] = out[i].with_alpha(a)
    for i, b in betas.items():
        out[i] = out[i].with_beta(b)
    return out


class Stage:
    """Adam on slopes (projected onto [0, 1]) and multipliers (onto >= 0), best per row."""

    def __init__(self, graph: Graph, domain: InputDomain, rows: Tensor,
                 fixed: dict[int, Relax], start: int | None = None) -> None:
        self.graph, self.domain, self.rows, self.fixed = graph, domain, rows, fixed
        self.start = graph.output if start is None else start  # the rows' node

    def run(self, alphas: Params, betas: Params, best: tuple[Tensor, Params, Params],
            iterations: int, options: BoundOptions,
            stop: Callable[[], bool] | None = None) -> tuple[Tensor, Params, Params]:
        best_lb, best_a, best_b = best[0].clone(), dict(best[1]), dict(best[2])
        a_now = {i: a.detach().clone().requires_grad_(True) for i, a in alphas.items()}
        b_now = {i: b.detach().clone().requires_grad_(True) for i, b in betas.items()}
        params = [*a_now.values(), *b_now.values()]
        optim = Adam(params, [options.alpha_lr] * len(a_now) + [options.beta_lr] * len(b_now),
                     decay=options.alpha_lr_decay)
        for _ in range(iterations):
            with torch.enable_grad():
                ctx = Context(self.graph, self.domain, with_params(self.fixed, a_now, b_now))
                lb = backsubstitute(ctx, self.start, Dense(self.rows))
                grads = torch.autograd.grad(-lb.sum(), params, allow_unused=True)
            with torch.no_grad():
                better = (lb.detach() > best_lb).unsqueeze(-1)
                best_lb = torch.maximum(lb.detach(), best_lb)
                for i, a in a_now.items():
                    best_a[i] = torch.where(better, a.detach().clamp(0.0, 1.0), best_a[i])
                for i, b in b_now.items():
                    best_b[i] = torch.where(better, b.detach().clamp(min=0.0), best_b[i])
                optim.step(grads)
                for a in a_now.values():
                    a.clamp_(0.0, 1.0)
                for b in b_now.values():
                    b.clamp_(min=0.0)
            if stop is not None and stop():
                break
        return best_lb, best_a, best_b


def alpha_crown(graph: Graph, domain: InputDomain, C: Tensor | None, which: str,
                options: BoundOptions, beta: bool = False) -> tuple[Interval, dict[int, Interval]]:
    """Bounds of ``C y`` by alpha-CROWN (beta-CROWN with ``beta``), and the (CROWN)
    intermediate bounds."""
    budget = options.chunk_elements
    bounds, relax = linear_intermediate(graph, domain, full=options.tighten_stable,
                                        budget=budget)
    crown_lo, crown_hi = output_bounds(Context(graph, domain, relax), C, which, budget)
    b = domain.batch_size
    rows, m = _rows(graph, C, which, b, domain.lower)
    r = rows.shape[1]
    crown_rows = _stack(crown_lo, crown_hi, which)
    fixed = {i: rx.detached() for i, rx in relax.items()}
    stage = Stage(graph, domain.detached(), rows.detach(), fixed)
    alphas = {i: rx.initial_alpha_rows(r).detach() for i, rx in relax.items()
              if bool(rx.unstable.any())}
    best: tuple[Tensor, Params, Params] = (crown_rows.detach(), alphas, {})
    ran = False
    if alphas and options.alpha_iterations > 0:
        best, ran = stage.run(alphas, {}, best, options.alpha_iterations, options), True
    betas = {i: torch.zeros(b, r, rx.split_index.shape[1], dtype=rows.dtype, device=rows.device)
             for i, rx in relax.items() if rx.split_index is not None}
    if beta and betas and options.beta_iterations > 0:
        best = stage.run(best[1], betas, (best[0], best[1], betas), options.beta_iterations,
                         options)
        ran = True
    if ran:
        final = Context(graph, domain, with_params(relax, best[1], best[2]))
        lbs = torch.maximum(backsubstitute(final, graph.output, Dense(rows)), crown_rows)
    else:
        lbs = crown_rows
    inf = torch.full((b, m), float("inf"), dtype=lbs.dtype, device=lbs.device)
    lower = lbs[:, :m] if which != "upper" else -inf
    upper = -lbs[:, -m:] if which != "lower" else inf
    return (lower, upper), bounds


def alpha_intermediate(graph: Graph, domain: InputDomain, bounds: dict[int, Interval],
                       options: BoundOptions, stop: Callable[[], bool] | None = None
                       ) -> dict[int, Interval]:
    """alpha-CROWN bounds of the unstable neurons of every ReLU input after the first.

    The lower and upper row of each such neuron get lower slopes of their own for every
    earlier ReLU, optimised by Adam (``alpha_iterations`` steps at ``alpha_lr``) from CROWN's
    choice; the best bounds are intersected with ``bounds`` node by node, and later nodes
    are relaxed with the tightened ones. ``stop()`` ends the work early (what is done is
    kept; every bound is sound).
    """
    bounds = dict(bounds)
    relus = graph.relu_nodes
    for k in range(1, len(relus)):
        if stop is not None and stop():
            break
        pre = graph.nodes[relus[k]].inputs[0]
        relax = {r: relax_of(domain, bounds, graph.nodes[r].inputs[0]) for r in relus[:k]}
        lo, hi = bounds[pre]
        b = lo.shape[0]
        order, valid = selected(((lo < 0) & (hi > 0)).reshape(b, -1))
        u = order.shape[1]
        alphas = {r: rx.initial_alpha_rows(2 * u) for r, rx in relax.items()
                  if bool(rx.unstable.any())}
        if u == 0 or not alphas or options.alpha_iterations <= 0:
            continue
        one = valid.to(lo.dtype)
        rows = lo.new_zeros(b, 2 * u, lo[0].numel())
        rows.scatter_(2, torch.cat([order, order], 1).unsqueeze(2),
                      torch.cat([one, -one], 1).unsqueeze(2))
        rows = rows.view(b, 2 * u, *lo.shape[1:])
        stage = Stage(graph, domain, rows, relax, start=pre)
        with torch.no_grad():
            first = backsubstitute(Context(graph, domain, relax), pre, Dense(rows))
            best, _, _ = stage.run(alphas, {}, (first, alphas, {}), options.alpha_iterations,
                                   options, stop)
        lf, hf = lo.reshape(b, -1), hi.reshape(b, -1)
        new_lo = torch.maximum(lf.gather(1, order), best[:, :u])
        new_hi = torch.minimum(hf.gather(1, order), -best[:, u:])
        bounds[pre] = (write_at(lf, order, valid, new_lo).view_as(lo),
                       write_at(hf, order, valid, new_hi).view_as(hi))
    return bounds
