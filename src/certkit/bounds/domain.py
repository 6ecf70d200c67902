"""The input set as the engines see it, and the concretisation of linear bounds over it.

A domain is a box ``[lower, upper]`` (shape ``(B, *shape)``), optionally intersected with an
L2 ball. The minimum of ``a . z`` over the box is ``a . lower + min(a, 0) . (upper - lower)``
(computed from the endpoints, never from a rounded centre and radius); over the ball it is
``a . center - radius * ||a||_2`` (the dual norm). Over their intersection both are lower
bounds, and the larger one is returned.

A domain may also carry ReLU split constraints (branch and bound's subdomains): for a
pre-activation node, ``+1`` per neuron constrains it to ``z >= 0``, ``-1`` to ``z <= 0``,
``0`` leaves it free. The set is then the box intersected with those half-spaces, and the
engines clamp the node's bounds to the constrained side (:meth:`InputDomain.clamp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..specs.base import Lifted
from .coeffs import Coeffs, Dense, dot, l2_norm, negative_part


@dataclass
class InputDomain:
    """Box ``[lower, upper]``, optionally intersected with ``||z - l2_center|| <= l2_radius``."""

    lower: Tensor
    upper: Tensor
    l2_center: Tensor | None = None
    l2_radius: Tensor | None = None  # (B,)
    # ReLU split constraints by pre-activation node: (B, *shape), +1 / -1 / 0
    splits: dict[int, Tensor] | None = None

    @classmethod
    def from_lifted(cls, lifted: Lifted) -> InputDomain:
        """The domain of a lifted spec."""
        return cls(lifted.lower, lifted.upper, lifted.l2_center, lifted.l2_radius)

    @property
    def is_box(self) -> bool:
        """Whether the set is exactly the box (so interval arithmetic on it is exact)."""
        return self.l2_center is None

    @property
    def batch_size(self) -> int:
        return self.lower.shape[0]

    def take(self, rows: slice | Tensor) -> InputDomain:
        """The domain of some of the samples (a slice or an index tensor)."""
        c = None if self.l2_center is None else self.l2_center[rows]
        r = None if self.l2_radius is None else self.l2_radius[rows]
        s = None if self.splits is None else {i: v[rows] for i, v in self.splits.items()}
        return InputDomain(self.lower[rows], self.upper[rows], c, r, s)

    def to(self, dtype: torch.dtype) -> InputDomain:
        """The same domain in another floating-point type."""
        c = None if self.l2_center is None else self.l2_center.to(dtype)
        r = None if self.l2_radius is None else self.l2_radius.to(dtype)
        return InputDomain(self.lower.to(dtype), self.upper.to(dtype), c, r, self.splits)

    def detached(self) -> InputDomain:
        """The same set without autograd history."""
        c = None if self.l2_center is None else self.l2_center.detach()
        r = None if self.l2_radius is None else self.l2_radius.detach()
        return InputDomain(self.lower.detach(), self.upper.detach(), c, r, self.splits)

    def split(self, node: int) -> Tensor | None:
        """The split constraints on node ``node``'s neurons, if any."""
        return None if self.splits is None else self.splits.get(node)

    def clamp(self, node: int, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
        """Bounds of node ``node`` on the set: split neurons clamped to their side."""
        s = self.split(node)
        if s is None:
            return lower, upper
        return (torch.where(s > 0, lower.clamp(min=0), lower),
                torch.where(s < 0, upper.clamp(max=0), upper))

    def lower_bound(self, c: Coeffs) -> Tensor:
        """``min over the set of sum_k A[b, r, k] z[b, k]`` bounded from below: (B, R)."""
        width = self.upper - self.lower
        lb = dot(c, self.lower) + dot(negative_part(c), width)
        if self.l2_center is not None and self.l2_radius is not None:
            lb2 = dot(c, self.l2_center) - self.l2_radius.view(-1, 1) * l2_norm(c)
            lb = torch.maximum(lb, lb2)
        return lb

    def forms_bounds(self, w: Tensor, lower: bool) -> Tensor:
        """Bound the linear forms ``w`` (B, n_in, *shape) over the set, per neuron.

        Returns ``min`` (``lower=True``) or ``max`` of ``w^T z`` as a ``(B, *shape)`` tensor.
        """
        b, n_in = w.shape[:2]
        rows = w.reshape(b, n_in, -1).transpose(1, 2).reshape(b, -1, *self.lower.shape[1:])
        out = self.lower_bound(Dense(rows if lower else -rows))
        out = out if lower else -out
        return out.view(b, *w.shape[2:])
