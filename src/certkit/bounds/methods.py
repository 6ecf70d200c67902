"""The registry of bound methods, with the metadata that drives docs, CLI choices and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import choice_error
from .alpha import alpha_crown
from .backward import Context
from .crown import crown_intermediate, linear_intermediate, output_bounds, relaxations
from .domain import InputDomain
from .graph import Graph
from .ibp import folded_spec_interval, interval_bounds
from .result import BoundOptions, BoundResult
from .ssip import ssip_bounds

Runner = Callable[[Graph, InputDomain, "Tensor | None", str, BoundOptions], BoundResult]


@dataclass(frozen=True)
class BoundMethod:
    """One bound method: how intermediate and output bounds are computed, and its source."""

    name: str
    aliases: tuple[str, ...]
    intermediate: str
    output: str
    reference: str
    run: Runner
    splits: bool = True  # whether it accepts ReLU split constraints (branch and bound)


def _ibp(g: Graph, d: InputDomain, C: Tensor | None, which: str, o: BoundOptions) -> BoundResult:
    nodes = interval_bounds(g, d)
    lo, hi = folded_spec_interval(g, nodes, C)
    if which == "lower":
        hi = torch.full_like(hi, float("inf"))
    elif which == "upper":
        lo = torch.full_like(lo, -float("inf"))
    return BoundResult(lo, hi, "ibp", g, nodes)


def _crown(g: Graph, d: InputDomain, C: Tensor | None, which: str, o: BoundOptions) -> BoundResult:
    nodes, relax = crown_intermediate(g, d, budget=o.chunk_elements)
    lo, hi = output_bounds(Context(g, d, relax), C, which, o.chunk_elements)
    return BoundResult(lo, hi, "crown", g, nodes)


def _crown_tight(g: Graph, d: InputDomain, C: Tensor | None, which: str,
                 o: BoundOptions) -> BoundResult:
    """Exact CROWN intersected with CROWN over IBP-tightened intermediate bounds.

    Each of the two is sound, so their intersection is; it is never looser than ``crown``
    on any row (intermediate or output), which the tightened chain alone is not.
    """
    exact = _crown(g, d, C, which, o)
    nodes, relax = linear_intermediate(g, d, full=o.tighten_stable, budget=o.chunk_elements)
    lo, hi = output_bounds(Context(g, d, relax), C, which, o.chunk_elements)
    merged = {i: (torch.maximum(a, nodes[i][0]), torch.minimum(b, nodes[i][1]))
              for i, (a, b) in exact.nodes.items()}
    return BoundResult(torch.maximum(lo, exact.lower), torch.minimum(hi, exact.upper),
                       "crown-tight", g, merged)


def _crown_ibp(g: Graph, d: InputDomain, C: Tensor | None, which: str,
               o: BoundOptions) -> BoundResult:
    nodes = interval_bounds(g, d)
    lo, hi = output_bounds(Context(g, d, relaxations(g, nodes, d)), C, which, o.chunk_elements)
    return BoundResult(lo, hi, "crown-ibp", g, nodes)


def _ssip(g: Graph, d: InputDomain, C: Tensor | None, which: str, o: BoundOptions) -> BoundResult:
    nodes, out = ssip_bounds(g, d, C, which, budget=o.chunk_elements)
    assert out is not None
    return BoundResult(out[0], out[1], "ssip", g, nodes)


def _rsip_ssip(g: Graph, d: InputDomain, C: Tensor | None, which: str,
               o: BoundOptions) -> BoundResult:
    ibp = interval_bounds(g, d)
    nodes, _ = ssip_bounds(g, d, None, "none", reference=ibp, budget=o.chunk_elements)
    merged = {**ibp, **nodes}
    lo, hi = output_bounds(Context(g, d, relaxations(g, merged, d)), C, which, o.chunk_elements)
    return BoundResult(lo, hi, "rsip-ssip", g, merged)


def _alpha(g: Graph, d: InputDomain, C: Tensor | None, which: str, o: BoundOptions) -> BoundResult:
    (lo, hi), nodes = alpha_crown(g, d, C, which, o)
    return BoundResult(lo, hi, "alpha-crown", g, nodes)


def _beta(g: Graph, d: InputDomain, C: Tensor | None, which: str, o: BoundOptions) -> BoundResult:
    (lo, hi), nodes = alpha_crown(g, d, C, which, o, beta=True)
    return BoundResult(lo, hi, "beta-crown", g, nodes)


_ZHANG18 = "Zhang et al. 2018 (CROWN); Singh et al. 2019 (DeepPoly)"
METHODS: dict[str, BoundMethod] = {
    m.name: m
    for m in [
        BoundMethod("ibp", ("box", "interval"), "interval", "interval",
                    "Gowal et al. 2018; Mirman et al. 2018 (Box)", _ibp),
        BoundMethod("crown", ("deeppoly", "rsip"), "back-substitution (every neuron)",
                    "back-substitution", _ZHANG18, _crown),
        BoundMethod("crown-tight", (), "tighter of CROWN and CROWN over interval-tightened "
                    "bounds", "tighter of the two back-substitutions", _ZHANG18, _crown_tight),
        BoundMethod("ssip", ("symbolic",), "forward symbolic intervals",
                    "forward symbolic intervals", "Wang et al. 2018 (ReluVal / Neurify)", _ssip,
                    splits=False),
        BoundMethod("crown-ibp", ("rsip-ibp",), "interval", "back-substitution",
                    "Zhang et al. 2020 (CROWN-IBP)", _crown_ibp),
        BoundMethod("rsip-ssip", (), "tighter of interval and forward symbolic",
                    "back-substitution", "Henriksen & Lomuscio 2023 (ROBNET), section 5",
                    _rsip_ssip, splits=False),
        BoundMethod("alpha-crown", ("alpha", "crown-optimized"), "back-substitution",
                    "back-substitution with optimised lower slopes",
                    "Xu et al. 2021 (alpha-CROWN)", _alpha),
        BoundMethod("beta-crown", ("alpha-beta-crown",), "back-substitution",
                    "back-substitution with optimised lower slopes and split multipliers",
                    "Wang et al. 2021 (beta-CROWN)", _beta),
    ]
}


def method_names() -> list[str]:
    """Canonical method names, in registry order."""
    return list(METHODS)


def get_method(name: str) -> BoundMethod:
    """Look a method up by name or alias (case-insensitive)."""
    key = name.lower()
    for m in METHODS.values():
        if key == m.name or key in m.aliases:
            return m
    raise choice_error("bound method", name, [*METHODS, "deeppoly"])
