"""MILP refinement of intermediate bounds (alpha-beta-CROWN's ``bab-refine``, with HiGHS).

The bounds of layer ``k``'s unstable neurons are tightened by optimising each pre-activation
over the exact mixed-integer program of the layers before it (:func:`.milp.encode_layers`,
big-M with the bounds refined so far), within a time limit per neuron. A solve stopped by
its limit still gives a sound bound: HiGHS's dual bound. Layers are refined in order, so a
layer's program uses its predecessors' refined bounds (fewer binaries, smaller big-Ms),
and after each refined layer the later ones are recomputed by CROWN from the refined ones
(intersected with what they had), so the next layer starts from tighter bounds. The
neurons of a layer are refined closest to zero first (the most likely to become stable),
and each neuron's upper bound before its lower (a non-positive upper bound ends it).

Every refined bound is widened by ``1e-7 (1 + |b|)`` for the solver's tolerances (1e-9)
and intersected with the given bounds, so the result is never looser than the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...bounds.subdomains import SubdomainBounder
from .chain import Chain
from .deadline import Deadline
from .milp import encode_layers, to_highs

SLACK = 1e-7


@dataclass
class RefineStats:
    """What the refinement did: solves, neurons made stable, per-layer unstable counts."""

    solves: int = 0
    stabilised: int = 0
    unstable_before: list[int] = field(default_factory=list)
    unstable_after: list[int] = field(default_factory=list)


def _optimum(h: Any, cols: np.ndarray, w: np.ndarray, bias: float, sense: float,
             integer: bool) -> float | None:
    """An upper bound of ``sense * (w . a + bias)`` over the program (``sense`` +1: of the
    pre-activation, -1: of its negation), or None when the solver gave none."""
    h.changeColsCost(len(cols), cols, -sense * w)
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    if integer:
        dual = float(info.mip_dual_bound)
    elif status == "Optimal":
        dual = float(info.objective_function_value)
    else:
        return None
    if not np.isfinite(dual):
        return None
    value = -dual + sense * bias  # max of sense * z
    return value + SLACK * (1.0 + abs(value))


def refine_bounds(chain: Chain, bounder: SubdomainBounder, lows: list[Tensor],
                  ups: list[Tensor], deadline: Deadline, *, neuron_seconds: float = 1.0,
                  layers: int | None = None, relax: bool = False
                  ) -> tuple[list[Tensor], list[Tensor], RefineStats]:
    """Refined pre-activation bounds (each (1, n_k)) of the box of ``bounder`` (the same
    network as ``chain``), which recomputes the layers after the refined ones.

    ``layers``: how many hidden layers to refine by MILP (default: all but the first,
    whose bounds are exact already); ``relax``: the LP relaxation instead of the MILP.
    Stops refining when ``deadline`` expires (what is refined so far is kept)."""
    lows = [x.clone() for x in lows]
    ups = [x.clone() for x in ups]
    n = len(chain.hidden)
    last = n - 1 if layers is None else min(n - 1, layers)
    stats = RefineStats(unstable_before=[int(((a < 0) & (b > 0)).sum())
                                         for a, b in zip(lows, ups, strict=True)])
    lo_ = bounder.lower.reshape(-1).double().numpy()
    hi_ = bounder.upper.reshape(-1).double().numpy()
    for k in range(1, last + 1):
        if deadline.expired():
            break
        ln = [x[0].double().numpy() for x in lows]
        un = [x[0].double().numpy() for x in ups]
        model, prev = encode_layers(chain, lo_, hi_, ln, un, None, relax, k)
        h = to_highs(model, np.zeros(len(model.lo)), neuron_seconds, quick=True)
        live = np.array([p >= 0 for p in prev])
        cols = np.array([p for p in prev if p >= 0], dtype=np.int32)
        w, b = chain.weights[k].numpy()[:, live], chain.biases[k].numpy()
        integer = bool(model.integer)
        zl, zu = ln[k], un[k]
        order = np.argsort(np.minimum(-zl, zu))
        for i in order:
            if not (zl[i] < 0 < zu[i]):
                continue
            if deadline.expired():
                break
            h.setOptionValue("time_limit", max(0.01, min(neuron_seconds, deadline.remaining())))
            up = _optimum(h, cols, w[i], float(b[i]), 1.0, integer)
            stats.solves += 1
            if up is not None and up < zu[i]:
                zu[i] = up
            if zu[i] <= 0:
                stats.stabilised += 1
                continue
            low = _optimum(h, cols, w[i], float(b[i]), -1.0, integer)
            stats.solves += 1
            if low is not None and -low > zl[i]:
                zl[i] = -low
            stats.stabilised += int(zl[i] >= 0)
        lows[k] = torch.maximum(lows[k], torch.from_numpy(zl)[None].to(lows[k].dtype))
        ups[k] = torch.minimum(ups[k], torch.from_numpy(zu)[None].to(ups[k].dtype))
        if k < n - 1:  # later layers from the refined ones (the next one's program starts
            # from tighter bounds: fewer neurons to solve, smaller big-Ms)
            out = bounder.recompute(list(zip(lows, ups, strict=True)), k)
            lows, ups = [x for x, _ in out], [x for _, x in out]
    stats.unstable_after = [int(((a < 0) & (b > 0)).sum()) for a, b in zip(lows, ups,
                                                                            strict=True)]
    return lows, ups, stats
