"""The bound step of ReLU branch and bound: many subdomains of one box in one batched call.

A subdomain is the box with ReLU split constraints (``InputDomain.splits``). Bounds of the
pre-activations computed once for the box (the root) hold on every subdomain: they are
given, split neurons are clamped to their side, and with ``refresh_from`` the ReLU inputs
after that ReLU are recomputed under the splits (interval bounds intersected with the
given ones, CROWN for the neurons still unstable) -- tighter, and dearer.

Output rows are then bounded by beta-CROWN (Wang et al. 2021): lower slopes of the unstable
neurons and multipliers of the split constraints, one set per row and subdomain, optimised
jointly by Adam, warm-started from the state of the domain the subdomain was split from. The
state travels densely (one number per neuron and row), so it carries over however the set of
unstable or split neurons changes. The best iterate of each row is kept; every iterate is a
sound bound.

Besides the bounds, the result holds what branching needs: every row's coefficients on each
ReLU output (BaBSR scores), the ReLU relaxations, and the rows' coefficients on the input
(whose minimiser over the box is a candidate counterexample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..errors import CertkitError
from .alpha import Params, Stage, alpha_intermediate, with_params
from .backward import Context, backsubstitute_rows
from .coeffs import Coeffs, Dense, to_dense
from .crown import linear_intermediate
from .domain import InputDomain
from .graph import build_graph
from .relax import Relax
from .result import BoundOptions, Interval
from .ssip import symbolic_intermediate

# a warm start: per ReLU, lower slopes and split multipliers, each (N, m, n_k)
State = tuple[list[Tensor], list[Tensor]]


@dataclass
class SubdomainBounds:
    """Bounds of ``C y`` on N subdomains and what branching uses (per ReLU, flat neurons)."""

    lower: Tensor  # (N, m)
    input_rows: Tensor  # (N, m, n_in): the rows' coefficients on the (flat) input
    relu_rows: list[Tensor]  # (N, m, n_k): the rows' coefficients on each ReLU's output
    unstable: list[Tensor]  # (N, n_k) bool
    intercepts: list[Tensor]  # (N, n_k): the upper relaxation's intercepts -slope * l
    pre_bounds: list[Interval]  # (N, n_k) each: the ReLU inputs' bounds used
    state: State  # the best slopes and multipliers, to warm-start children with


class SubdomainBounder:
    """Bounds ``C f(x)`` over subdomains of the box ``[lower, upper]`` (each (1, *shape)).

    ``model`` must be a network whose ReLUs each read their own node (the ReLU layers of a
    feed-forward network); ``options`` sets the optimiser (``alpha_lr``, ``beta_lr``,
    ``alpha_lr_decay``) and ``chunk_elements``.
    """

    def __init__(self, model: nn.Module, lower: Tensor, upper: Tensor,
                 options: BoundOptions | None = None) -> None:
        self.lower, self.upper = lower, upper
        self.graph = build_graph(model, (lower + upper) / 2)
        self.relus = self.graph.relu_nodes
        self.pre = [self.graph.nodes[r].inputs[0] for r in self.relus]
        if len(set(self.pre)) != len(self.pre):
            raise CertkitError("branch and bound needs every ReLU to read a node of its own")
        self.shapes = [self.graph.nodes[p].shape for p in self.pre]
        self.sizes = [self.graph.nodes[p].numel for p in self.pre]
        self.options = options or BoundOptions(alpha_lr=0.1, alpha_lr_decay=1.0)

    def root_bounds(self, iterations: int = 20, stop: Callable[[], bool] | None = None,
                    box: Interval | None = None) -> list[Interval]:
        """The ReLU inputs' bounds over the box (or over ``box``, a box inside it, (1, *shape)
        each), per ReLU (1, n_k): CROWN for every neuron, intersected with interval bounds,
        then :meth:`optimise`."""
        domain = InputDomain(*(box or (self.lower, self.upper)))
        with torch.no_grad():
            bounds, _ = linear_intermediate(self.graph, domain, full=True,
                                            budget=self.options.chunk_elements)
        return self.optimise(self._flat(bounds), iterations, stop, box)

    def optimise(self, given: list[Interval], iterations: int = 20,
                 stop: Callable[[], bool] | None = None,
                 box: Interval | None = None) -> list[Interval]:
        """``given`` (per ReLU, each (1, n_k), valid on the box or ``box``) tightened by
        alpha-CROWN for the unstable neurons (:func:`~certkit.bounds.alpha.alpha_intermediate`)."""
        if iterations <= 0:
            return given
        opts = replace(self.options, alpha_iterations=iterations)
        domain = InputDomain(*(box or (self.lower, self.upper)))
        return self._flat(alpha_intermediate(self.graph, domain, self._nodes(given, 1), opts,
                                             stop))

    def recompute(self, given: list[Interval], after: int) -> list[Interval]:
        """``given`` (valid on the box), with the ReLU inputs after ReLU ``after`` recomputed
        from the others (interval bounds intersected with the given ones, CROWN for the
        neurons still unstable)."""
        n = given[0][0].shape[0]
        domain = InputDomain(self.lower.expand(n, *self.lower.shape[1:]),
                             self.upper.expand(n, *self.upper.shape[1:]))
        with torch.no_grad():
            bounds, _ = linear_intermediate(self.graph, domain, given=self._nodes(given, n),
                                            fixed=set(self.pre[:after + 1]),
                                            budget=self.options.chunk_elements)
        return self._flat(bounds)

    def _flat(self, bounds: dict[int, Interval]) -> list[Interval]:
        n = bounds[self.pre[0]][0].shape[0]
        return [(bounds[p][0].reshape(n, -1), bounds[p][1].reshape(n, -1)) for p in self.pre]

    def domain(self, splits: list[Tensor]) -> InputDomain:
        """The box with the split constraints ``splits`` (per ReLU, (N, n_k))."""
        n = splits[0].shape[0]
        by_node = {p: s.view(n, *shape) for p, s, shape in zip(self.pre, splits, self.shapes,
                                                                strict=True)}
        return InputDomain(self.lower.expand(n, *self.lower.shape[1:]),
                           self.upper.expand(n, *self.upper.shape[1:]), splits=by_node)

    def bound(self, splits: list[Tensor], C: Tensor, given: list[Interval], *,
              iterations: int = 0, refresh_from: int | None = None,
              init: State | None = None) -> SubdomainBounds:
        """Lower bounds of ``C y`` (C: (m, n_out)) on the subdomains ``splits`` (per ReLU,
        (N, n_k) with +1 / -1 / 0), from the ReLU inputs' bounds ``given`` (per ReLU, each
        (1 or N, n_k)) valid on them; ``refresh_from``: recompute the ReLU inputs after
        that ReLU (index into the ReLUs) under the splits; ``init``: the warm start."""
        n = splits[0].shape[0]
        domain = self.domain(splits)
        fixed = set(self.pre if refresh_from is None else self.pre[:refresh_from + 1])
        with torch.no_grad():
            bounds, relax = linear_intermediate(self.graph, domain, given=self._nodes(given, n),
                                                fixed=fixed,
                                                budget=self.options.chunk_elements)
        return self._output(domain, bounds, relax, C, iterations, init)

    def boxes(self, lower: Tensor, upper: Tensor, C: Tensor,
              given: list[Interval] | None = None, *, iterations: int = 0) -> SubdomainBounds:
        """Lower bounds of ``C y`` on N boxes ``lower``/``upper`` (N, *shape) inside the
        box (input splitting), with the intermediate bounds of
        :func:`~certkit.bounds.ssip.symbolic_intermediate` (forward symbolic intervals, then
        CROWN for the neurons left unstable: for networks with few inputs) intersected with
        ``given`` (per ReLU, (N, n_k), e.g. those of the boxes these were split from), and
        alpha-CROWN on the output rows for ``iterations`` steps."""
        n = lower.shape[0]
        domain = InputDomain(lower, upper)
        with torch.no_grad():
            bounds, relax = symbolic_intermediate(
                self.graph, domain, None if given is None else self._nodes(given, n),
                budget=self.options.chunk_elements)
        return self._output(domain, bounds, relax, C, iterations, None)

    def _nodes(self, given: list[Interval], n: int) -> dict[int, Interval]:
        """Per-ReLU flat bounds as the engine's node bounds (N, *shape)."""
        return {p: (lo.expand(n, -1).view(n, *shape), hi.expand(n, -1).view(n, *shape))
                for p, (lo, hi), shape in zip(self.pre, given, self.shapes, strict=True)}

    def _output(self, domain: InputDomain, bounds: dict[int, Interval],
                relax: dict[int, Relax], C: Tensor, iterations: int,
                init: State | None) -> SubdomainBounds:
        """beta-CROWN on the rows ``C`` from the intermediate bounds, and the result."""
        n, m = domain.batch_size, C.shape[0]
        rows = C.to(self.lower.dtype).reshape(1, m, *self.graph.nodes[self.graph.output].shape)
        rows = rows.expand(n, *rows.shape[1:])
        alphas, betas = self._packed(relax, m, init)
        if iterations > 0 and (alphas or betas):
            lb = self._pass(domain, relax, rows, alphas, betas)[0]
            stage = Stage(self.graph, domain, rows, relax)
            with torch.no_grad():
                lb, alphas, betas = stage.run(alphas, betas, (lb, alphas, betas), iterations,
                                              self.options)
        lb, inputs, record = self._pass(domain, relax, rows, alphas, betas, record=True)
        flat = [to_dense(record[r]).reshape(n, m, -1) for r in self.relus]
        return SubdomainBounds(
            lb, to_dense(inputs).reshape(n, m, -1), flat,
            [relax[r].unstable.reshape(n, -1) for r in self.relus],
            [relax[r].icpt.reshape(n, -1) for r in self.relus],
            self._flat(bounds),
            self._dense(relax, m, alphas, betas))

    def _pass(self, domain: InputDomain, relax: dict[int, Relax], rows: Tensor,
              alphas: Params, betas: Params, record: bool = False
              ) -> tuple[Tensor, Coeffs, dict[int, Coeffs]]:
        keep: dict[int, Coeffs] | None = dict.fromkeys(self.relus) if record else None
        ctx = Context(self.graph, domain, with_params(relax, alphas, betas))
        with torch.no_grad():
            lb, inputs = backsubstitute_rows(ctx, self.graph.output, Dense(rows), keep)
        return lb, inputs, keep or {}

    def _packed(self, relax: dict[int, Relax], m: int, init: State | None
                ) -> tuple[Params, Params]:
        """Per-row slopes of the unstable neurons and multipliers of the split ones, in the
        relaxations' packed order, from the dense warm start (or CROWN's slopes, beta 0)."""
        alphas: Params = {}
        betas: Params = {}
        for k, r in enumerate(self.relus):
            rx = relax[r]
            idx, _ = rx.unstable_index()
            if idx.shape[1]:  # (padded to the batch's most: 0 only when none is)
                alphas[r] = (rx.initial_alpha_rows(m).clone() if init is None else
                             init[0][k].gather(2, idx.unsqueeze(1).expand(-1, m, -1)))
            if rx.split_index is not None:
                sidx = rx.split_index.unsqueeze(1).expand(-1, m, -1)
                betas[r] = (torch.zeros(sidx.shape, dtype=rx.alpha.dtype, device=sidx.device)
                            if init is None else init[1][k].gather(2, sidx))
        return alphas, betas

    def _dense(self, relax: dict[int, Relax], m: int, alphas: Params, betas: Params) -> State:
        """The packed state spread back over every neuron (slopes of stable neurons: exact;
        multipliers of unsplit ones: 0)."""
        dense_a, dense_b = [], []
        for r in self.relus:
            rx = relax[r]
            n = rx.alpha.shape[0]
            base = rx.alpha.reshape(n, 1, -1).expand(-1, m, -1).clone()
            if r in alphas:
                idx, valid = rx.unstable_index()
                base = _scatter(base, idx, valid, alphas[r].clamp(0.0, 1.0))
            dense_a.append(base)
            beta = torch.zeros_like(base)
            if r in betas:
                assert rx.split_index is not None and rx.split_dir is not None
                beta = _scatter(beta, rx.split_index, rx.split_dir != 0,
                                betas[r].clamp(min=0.0))
            dense_b.append(beta)
        return dense_a, dense_b


def _scatter(dst: Tensor, idx: Tensor, valid: Tensor, val: Tensor) -> Tensor:
    """``dst[b, :, idx[b, k]] = val[b, :, k]`` for the real entries (``valid``, (B, K)) only:
    padding entries repeat a real index and must not overwrite it."""
    b, m, n = dst.shape
    target = torch.where(valid, idx, torch.full_like(idx, n)).unsqueeze(1).expand(-1, m, -1)
    ext = torch.cat([dst, dst.new_zeros(b, m, 1)], 2)
    return ext.scatter(2, target, val)[:, :, :n]
