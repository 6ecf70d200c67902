"""Forward symbolic interval propagation (SSIP; Wang et al. 2018, ReluVal / Neurify style).

Every node carries a lower and an upper linear form in the engine's input variables. Affine
layers map the forms exactly (``W+`` on one, ``W-`` on the other); a ReLU scales the forms by
its relaxation, built from the node's concrete bounds, which are the forms concretised over
the input set -- optionally intersected with reference bounds (RSIP-SSIP uses IBP's, as
ROBNET does). Cost grows with the input dimension (one column per input variable): cheap
over the few coefficients of an :class:`~certkit.specs.AffineSet`, heavy over raw pixels,
so samples are processed in chunks within the memory budget.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backward import Context
from .crown import relax_of, tighten
from .domain import InputDomain
from .forms import Forms
from .graph import Graph, Node
from .relax import Relax, relu_relax
from .result import Interval


def _output_rows(f: Forms, C: Tensor | None, lower: bool) -> tuple[Tensor, Tensor]:
    """Forms of the lower (or upper) bound of ``C y``: weights (B, n_in, m), offsets (B, m)."""
    b, n_in = f.wl.shape[:2]
    wl, wu = f.wl.reshape(b, n_in, -1), f.wu.reshape(b, n_in, -1)
    bl, bu = f.bl.reshape(b, -1), f.bu.reshape(b, -1)
    if C is None:
        return (wl, bl) if lower else (wu, bu)
    pos, neg = C.clamp(min=0).transpose(1, 2), C.clamp(max=0).transpose(1, 2)
    lo_w, hi_w = (wl, wu) if lower else (wu, wl)
    lo_b, hi_b = (bl, bu) if lower else (bu, bl)
    w = torch.bmm(lo_w, pos) + torch.bmm(hi_w, neg)
    off = torch.bmm(lo_b.unsqueeze(1), pos) + torch.bmm(hi_b.unsqueeze(1), neg)
    return w, off.squeeze(1)


class _FormStore:
    """The forward forms of the nodes not yet read by all their consumers (each node's
    forms are freed after its last reader; the input's are kept)."""

    def __init__(self, graph: Graph, domain: InputDomain) -> None:
        self.uses: dict[int, int] = {}
        for node in graph.nodes[1 : graph.output + 1]:
            for j in node.inputs:
                self.uses[j] = self.uses.get(j, 0) + 1
        self.forms: dict[int, Forms] = {0: Forms.identity(domain.lower)}

    def step(self, node: Node, relax: Relax | None) -> Forms:
        """Node ``node``'s forms from its inputs' (``relax``: its ReLU relaxation)."""
        assert node.op is not None
        f = node.op.forward_linear(*(self.forms[j] for j in node.inputs), relax=relax)
        for j in node.inputs:
            self.uses[j] -= 1
            if self.uses[j] == 0 and j != 0:
                del self.forms[j]
        self.forms[node.index] = f
        return f


def _chunk(graph: Graph, domain: InputDomain, C: Tensor | None, which: str,
           reference: dict[int, Interval] | None) -> tuple[dict[int, Interval], Interval | None]:
    pre = graph.pre_activations
    store = _FormStore(graph, domain)
    bounds: dict[int, Interval] = {}
    for node in graph.nodes[1 : graph.output + 1]:
        assert node.op is not None
        relax = relu_relax(*bounds[node.inputs[0]]) if node.op.kind == "relu" else None
        f = store.step(node, relax)
        if node.index in pre:
            lo = domain.forms_bounds(f.wl, lower=True) + f.bl
            hi = domain.forms_bounds(f.wu, lower=False) + f.bu
            if reference is not None:
                rl, ru = reference[node.index]
                lo, hi = torch.maximum(lo, rl), torch.minimum(hi, ru)
            bounds[node.index] = (lo, hi)
    if which == "none":
        return bounds, None
    f = store.forms[graph.output]
    b = domain.batch_size
    m = f.bl[0].numel() if C is None else C.shape[1]
    inf = torch.full((b, m), float("inf"), dtype=f.bl.dtype, device=f.bl.device)
    lower, upper = -inf, inf
    if which != "upper":
        w, off = _output_rows(f, C, lower=True)
        lower = domain.forms_bounds(w, lower=True) + off
    if which != "lower":
        w, off = _output_rows(f, C, lower=False)
        upper = domain.forms_bounds(w, lower=False) + off
    return bounds, (lower, upper)


def ssip_bounds(graph: Graph, domain: InputDomain, C: Tensor | None = None, which: str = "both",
                reference: dict[int, Interval] | None = None,
                budget: int = 1 << 25) -> tuple[dict[int, Interval], Interval | None]:
    """SSIP bounds of every ReLU input and (unless ``which == "none"``) of ``C y``."""
    b = domain.batch_size
    n_in = domain.lower[0].numel()
    width = max(n.numel for n in graph.nodes[: graph.output + 1])
    step = max(1, budget // max(1, 4 * n_in * width))
    if step >= b:
        return _chunk(graph, domain, C, which, reference)
    parts = []
    for s in range(0, b, step):
        rows = slice(s, min(b, s + step))
        ref = None if reference is None else {k: (lo[rows], hi[rows])
                                               for k, (lo, hi) in reference.items()}
        parts.append(_chunk(graph.take(rows), domain.take(rows),
                            None if C is None else C[rows], which, ref))
    bounds = {k: (torch.cat([p[0][k][0] for p in parts]), torch.cat([p[0][k][1] for p in parts]))
              for k in parts[0][0]}
    if which == "none":
        return bounds, None
    out = [p[1] for p in parts]
    return bounds, (torch.cat([o[0] for o in out if o]), torch.cat([o[1] for o in out if o]))


def symbolic_intermediate(graph: Graph, domain: InputDomain,
                          given: dict[int, Interval] | None = None, *, budget: int = 1 << 25
                          ) -> tuple[dict[int, Interval], dict[int, Relax]]:
    """Bounds of every node for sets with few input variables: forward symbolic intervals
    (the relaxations taken from the tightened bounds, ReluVal / Neurify style), intersected
    with interval bounds and with ``given`` (bounds known to hold, e.g. those of a box a box
    was split from), then CROWN back-substitution for the neurons still unstable.

    A neuron the forward forms prove stable is stable, and for the others the back-
    substituted bound is CROWN's, so the bounds are CROWN's on the neurons that matter for
    a fraction of the cost once most neurons are stable (input splitting's small boxes).
    Forms through at most one ReLU are CROWN's own, and are not back-substituted.
    """
    given = given or {}
    pre = graph.pre_activations
    store = _FormStore(graph, domain)
    bounds: dict[int, Interval] = {0: (domain.lower, domain.upper)}
    relax: dict[int, Relax] = {}
    depth = {0: 0}  # ReLUs on the longest path from the input
    ctx = Context(graph, domain, relax)
    for node in graph.nodes[1 : graph.output + 1]:
        assert node.op is not None
        i, first = node.index, node.inputs[0]
        depth[i] = max(depth[j] for j in node.inputs) + (node.op.kind == "relu")
        if node.op.kind == "relu":
            relax[i] = relax_of(domain, bounds, first)
        f = store.step(node, relax.get(i))
        lo, hi = node.op.interval(*(bounds[j] for j in node.inputs))
        if i in pre:
            lo = torch.maximum(lo, domain.forms_bounds(f.wl, lower=True) + f.bl)
            hi = torch.minimum(hi, domain.forms_bounds(f.wu, lower=False) + f.bu)
        if i in given:
            lo, hi = torch.maximum(lo, given[i][0]), torch.minimum(hi, given[i][1])
        if i in pre and depth[i] >= 2:
            lo, hi = tighten(ctx, bounds, i, lo, hi, (lo < 0) & (hi > 0), budget, early=True)
        bounds[i] = domain.clamp(i, lo, hi)
    return bounds, relax
