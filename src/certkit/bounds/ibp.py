"""Interval bound propagation (IBP / Box), and bounds of ``C y`` from bounds of ``y``."""

from __future__ import annotations

import torch
from torch import Tensor

from .domain import InputDomain
from .graph import Graph
from .result import Interval


def interval_bounds(graph: Graph, domain: InputDomain) -> dict[int, Interval]:
    """Elementwise bounds of every node by interval arithmetic (splits clamped in)."""
    bounds: dict[int, Interval] = {0: (domain.lower, domain.upper)}
    for node in graph.nodes[1 : graph.output + 1]:
        assert node.op is not None
        bounds[node.index] = domain.clamp(node.index,
                                          *node.op.interval(*(bounds[j] for j in node.inputs)))
    return bounds


def folded_spec_interval(graph: Graph, bounds: dict[int, Interval],
                         C: Tensor | None) -> Interval:
    """Bounds of ``C y``, folding C into a final Linear layer when there is one.

    ``C (W h + b) = (C W) h + C b`` bounded over the box of ``h`` is never looser than
    bounding ``C`` over the box of ``y`` (Gowal et al. 2018's elision of the last layer), and
    is much tighter for margin specifications.
    """
    from .rules.linear import LinearOp

    out = graph.nodes[graph.output]
    if C is None or not isinstance(out.op, LinearOp) or len(out.inputs) != 1:
        return spec_interval(*bounds[graph.output], C)
    lo, hi = bounds[out.inputs[0]]
    lo, hi = lo.flatten(1), hi.flatten(1)
    w = torch.matmul(C, out.op.weight)  # (B, m, n_hidden)
    mid, rad = ((lo + hi) / 2).unsqueeze(-1), ((hi - lo) / 2).unsqueeze(-1)
    centre = torch.bmm(w, mid).squeeze(-1)
    spread = torch.bmm(w.abs(), rad).squeeze(-1)
    if out.op.bias is not None:
        centre = centre + torch.matmul(C, out.op.bias)
    return centre - spread, centre + spread


def spec_interval(lo: Tensor, hi: Tensor, C: Tensor | None) -> Interval:
    """Bounds of ``C y`` (C of shape (B, m, n)) for ``lo <= y <= hi`` (flattened to (B, n))."""
    lo, hi = lo.flatten(1), hi.flatten(1)
    if C is None:
        return lo, hi
    pos, neg = C.clamp(min=0), C.clamp(max=0)
    lower = torch.bmm(pos, lo.unsqueeze(-1)) + torch.bmm(neg, hi.unsqueeze(-1))
    upper = torch.bmm(pos, hi.unsqueeze(-1)) + torch.bmm(neg, lo.unsqueeze(-1))
    return lower.squeeze(-1), upper.squeeze(-1)
