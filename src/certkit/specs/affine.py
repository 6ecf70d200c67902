"""Affine images of low-dimensional coefficient boxes: ``x = center + G @ a``, ``a`` in a box.

Brightness, contrast and bias-field perturbations are all of this form (before clipping to
the image domain). Every sample has its own centre and generators, so the set is batched
like every other spec. For the bound engines the set lifts into an :class:`AffineLayer`
(a per-sample linear input layer) over the box of coefficients: symbolic methods then work
in the low-dimensional coefficient space, which is what makes them tight and cheap here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import CertkitError
from .base import Lifted, Spec, check_finite


class AffineLayer(nn.Module):
    """``a (B, k) -> center + G a`` reshaped to ``(B, *shape)``; one ``G`` per sample."""

    def __init__(self, center: torch.Tensor, generators: torch.Tensor) -> None:
        super().__init__()
        if generators.dim() != 3 or generators.shape[:2] != (center.shape[0],
                                                            center[0].numel()):
            raise CertkitError(f"generators must have shape (B, n, k) with (B, n) = "
                               f"{(center.shape[0], center[0].numel())}")
        self.register_buffer("center", center)
        self.register_buffer("generators", generators)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Per-sample output shape."""
        return tuple(self.center.shape[1:])

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if a.dim() != 2 or a.shape != (self.center.shape[0], self.generators.shape[2]):
            raise CertkitError(f"AffineLayer expects coefficients of shape "
                               f"{(self.center.shape[0], self.generators.shape[2])}, "
                               f"got {tuple(a.shape)}")
        x = self.center.flatten(1) + torch.bmm(self.generators, a.unsqueeze(-1)).squeeze(-1)
        return x.view_as(self.center)


class AffineSet(Spec):
    """``{center + G a : coeff_lower <= a <= coeff_upper}`` for every sample of a batch.

    ``center`` is ``(B, *input_shape)``; ``generators`` is ``(B, *input_shape, k)`` or
    ``(B, n, k)`` with ``n = prod(input_shape)``; the coefficient bounds are ``(B, k)``.
    No domain clipping happens here: prepend a :class:`~certkit.models.Clip` in the lifted
    network (as the bias-field spec does) when the images must stay in [0, 1].
    """

    def __init__(self, center: torch.Tensor, generators: torch.Tensor,
                 coeff_lower: torch.Tensor, coeff_upper: torch.Tensor) -> None:
        if center.dim() < 2:
            raise CertkitError("center must have shape (B, *input_shape)")
        b, n = center.shape[0], center[0].numel()
        if generators.dim() == center.dim() + 1 and generators.shape[:-1] == center.shape:
            generators = generators.reshape(b, n, generators.shape[-1])
        if generators.dim() != 3 or generators.shape[:2] != (b, n):
            raise CertkitError(f"generators must have shape {(*center.shape, 'k')} or "
                               f"{(b, n, 'k')}, got {tuple(generators.shape)}")
        k = generators.shape[2]
        for name, t in (("coeff_lower", coeff_lower), ("coeff_upper", coeff_upper)):
            if t.shape != (b, k):
                raise CertkitError(f"{name} must have shape {(b, k)}, got {tuple(t.shape)}")
        for name, t in (("center", center), ("generators", generators),
                        ("coeff_lower", coeff_lower), ("coeff_upper", coeff_upper)):
            check_finite(name, t)
        if bool((coeff_lower > coeff_upper).any()):
            raise CertkitError("coeff_lower exceeds coeff_upper")
        self.center, self.generators = center, generators
        self.coeff_lower, self.coeff_upper = coeff_lower, coeff_upper

    @property
    def batch_size(self) -> int:
        return self.center.shape[0]

    @property
    def num_coeffs(self) -> int:
        """Dimension ``k`` of the coefficient box."""
        return self.generators.shape[2]

    def to(self, dtype: torch.dtype) -> AffineSet:
        return AffineSet(self.center.to(dtype), self.generators.to(dtype),
                         self.coeff_lower.to(dtype), self.coeff_upper.to(dtype))

    def point(self, coeffs: torch.Tensor) -> torch.Tensor:
        """The inputs ``center + G a`` for coefficients ``a`` of shape ``(B, k)``."""
        return AffineLayer(self.center, self.generators)(coeffs)

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        mid = (self.coeff_lower + self.coeff_upper) / 2
        rad = (self.coeff_upper - self.coeff_lower) / 2
        c = self.center.flatten(1) + torch.bmm(self.generators, mid.unsqueeze(-1)).squeeze(-1)
        r = torch.bmm(self.generators.abs(), rad.unsqueeze(-1)).squeeze(-1)
        return (c - r).view_as(self.center), (c + r).view_as(self.center)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Least-squares coefficients of ``x`` (unique when ``G`` has full column rank)."""
        rhs = (x - self.center).flatten(1).unsqueeze(-1).to(self.generators.dtype)
        return torch.linalg.lstsq(self.generators, rhs).solution.squeeze(-1)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        a = self.coefficients(x)
        a = torch.maximum(torch.minimum(a, self.coeff_upper), self.coeff_lower)
        return self.point(a)

    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        a = self.coefficients(x)
        inside = ((a >= self.coeff_lower - tol) & (a <= self.coeff_upper + tol)).all(dim=1)
        resid = (self.point(a) - x).flatten(1).abs().amax(dim=1)
        return inside & (resid <= tol * math.sqrt(max(1, self.num_coeffs)))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand((n, *self.coeff_lower.shape), generator=generator,
                       dtype=self.coeff_lower.dtype, device=self.coeff_lower.device)
        a = self.coeff_lower + u * (self.coeff_upper - self.coeff_lower)
        return torch.stack([self.point(ai) for ai in a])

    def lift(self) -> Lifted:
        """An :class:`AffineLayer` over the coefficient box (clean = the box's midpoint)."""
        mid = (self.coeff_lower + self.coeff_upper) / 2
        return Lifted(lower=self.coeff_lower, upper=self.coeff_upper, clean=mid,
                      prefix=AffineLayer(self.center, self.generators))
