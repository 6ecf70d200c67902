"""Entry points: bound a model's outputs over a box or over any spec.

Bounds are computed in the model's floating-point type. They are sound in exact arithmetic;
floating-point rounding can move them by a few ulps, so verdicts that must be sound are
computed in float64 by :func:`certkit.verify.certify` (see its module docstring).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import CertkitError
from ..specs.base import Lifted, Spec
from ..specs.lp import Box
from .checks import (
    check_box,
    check_model,
    check_spec_matrix,
    check_splits,
    check_tensor,
    check_which,
)
from .domain import InputDomain
from .graph import build_graph
from .methods import get_method
from .result import BoundOptions, BoundResult


def propagate(model: nn.Module, spec: Spec | Lifted, *, method: str = "crown",
              C: Tensor | None = None, which: str = "both",
              options: BoundOptions | None = None,
              splits: Sequence[Tensor] | None = None) -> BoundResult:
    """Bound ``C @ model(x)`` for every ``x`` of ``spec``; keep per-node bounds too.

    ``which`` (``both``/``lower``/``upper``) skips the side not needed (it is +-inf).
    ``splits``: ReLU split constraints, one tensor per ReLU in the network's order, each
    of the ReLU input's shape (B, *shape) with ``+1`` (``z >= 0``), ``-1`` (``z <= 0``) or
    ``0`` (free) per neuron; the bounds then hold on the spec's set intersected with them.
    """
    m = get_method(method)
    check_which(which)
    dtype, device = check_model(model)
    lifted = spec.lift() if isinstance(spec, Spec) else spec
    lower = lifted.lower.to(dtype=dtype, device=device)
    upper = lifted.upper.to(dtype=dtype, device=device)
    check_box(lower, upper)
    clean = lifted.clean.to(dtype=dtype, device=device)
    check_tensor("clean input", clean)
    if clean.shape != lower.shape:
        raise CertkitError(f"clean input {tuple(clean.shape)} and set {tuple(lower.shape)} "
                           "differ in shape")
    center = radius = None
    if lifted.l2_center is not None and lifted.l2_radius is not None:
        center = lifted.l2_center.to(dtype=dtype, device=device)
        radius = lifted.l2_radius.to(dtype=dtype, device=device)
    prefix = lifted.prefix.to(device) if lifted.prefix is not None else None
    graph = build_graph(model, clean, prefix)
    n_out = graph.nodes[graph.output].numel
    C = check_spec_matrix(C, lower.shape[0], n_out, lower)
    by_node = None
    if splits is not None:
        if not m.splits:
            raise CertkitError(f"bound method {m.name!r} does not take ReLU split constraints")
        by_node = check_splits(splits, graph, lower.shape[0], device)
        if 0 in by_node:  # ReLUs on the input itself: their splits shrink the box
            lower, upper = InputDomain(lower, upper, splits=by_node).clamp(0, lower, upper)
            del by_node[0]
    domain = InputDomain(lower, upper, center, radius, by_node)
    return m.run(graph, domain, C, which, options or BoundOptions())


def bound(model: nn.Module, spec: Spec | Lifted, method: str = "crown", C: Tensor | None = None,
          *, which: str = "both", options: BoundOptions | None = None,
          splits: Sequence[Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """``(lower, upper)`` of ``C @ model(x)`` over ``spec`` (and ``splits``, as for
    :func:`propagate`), each of shape (B, m)."""
    r = propagate(model, spec, method=method, C=C, which=which, options=options, splits=splits)
    return r.lower, r.upper


def compute_bounds(model: nn.Module, x_lower: Tensor, x_upper: Tensor, *, method: str = "crown",
                   C: Tensor | None = None, x: Tensor | None = None, which: str = "both",
                   options: BoundOptions | None = None,
                   splits: Sequence[Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Bounds of ``C @ model(x')`` for ``x_lower <= x' <= x_upper``.

    ``x_lower``/``x_upper``: (B, *input_shape); ``C``: (B, m, n_out) or (m, n_out); with
    ``C=None`` the outputs themselves are bounded. ``x`` is the clean input (default: the
    box's midpoint); it only matters for BatchNorm layers in train mode, which use its batch
    statistics. ``splits``: ReLU split constraints (see :func:`propagate`; ``beta-crown``
    optimises their multipliers). Returns ``(lower, upper)`` of shape (B, m); gradients
    flow to the model's parameters (and to the box) through every method.
    """
    check_box(x_lower, x_upper)
    box = Box(x_lower, x_upper)
    lifted = box.lift()
    if x is not None:
        check_tensor("x", x)
        lifted.clean = x
    return bound(model, lifted, method, C, which=which, options=options, splits=splits)
