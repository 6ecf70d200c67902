"""Bound propagation: IBP, CROWN/DeepPoly, SSIP, CROWN-IBP, RSIP-SSIP and alpha-CROWN.

``compute_bounds(model, x_lower, x_upper, method=..., C=...)`` bounds ``C @ model(x)`` over a
box; ``bound(model, spec, method, C)`` over any spec (L2 balls use the dual norm, affine sets
are bounded over their coefficients); ``propagate`` also returns the per-node bounds.
"""

from .api import bound, compute_bounds, propagate
from .graph import Graph, Node, build_graph
from .methods import METHODS, BoundMethod, get_method, method_names
from .registry import Op, register_layer, supported_layers
from .result import BoundOptions, BoundResult

__all__ = [
    "METHODS",
    "BoundMethod",
    "BoundOptions",
    "BoundResult",
    "Graph",
    "Node",
    "Op",
    "bound",
    "build_graph",
    "compute_bounds",
    "get_method",
    "method_names",
    "propagate",
    "register_layer",
    "supported_layers",
]
