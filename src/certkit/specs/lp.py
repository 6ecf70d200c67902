"""Boxes and Lp balls, intersected with the input domain (default [0, 1])."""

from __future__ import annotations

import torch

from ..errors import CertkitError
from .base import Lifted, Spec, as_batch_eps, check_finite, finite_range

Domain = tuple[float, float] | None


def _rand(shape: tuple[int, ...], like: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=g, dtype=like.dtype, device=like.device)


class Box(Spec):
    """The axis-aligned box ``lower <= x <= upper`` (shapes (B, *input_shape))."""

    def __init__(self, lower: torch.Tensor, upper: torch.Tensor) -> None:
        if lower.shape != upper.shape:
            raise CertkitError(f"lower {tuple(lower.shape)} and upper {tuple(upper.shape)} differ")
        check_finite("lower bound", lower)
        check_finite("upper bound", upper)
        if bool((lower > upper).any()):
            raise CertkitError("lower bound exceeds upper bound")
        self.lower, self.upper = lower, upper

    @property
    def batch_size(self) -> int:
        return self.lower.shape[0]

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lower, self.upper

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, self.lower, self.upper)  # one pass; lower <= upper

    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        ok = (x >= self.lower - tol) & (x <= self.upper + tol)
        return ok.flatten(1).all(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = _rand((n, *self.lower.shape), self.lower, generator)
        return self.lower + u * (self.upper - self.lower)

    def to(self, dtype: torch.dtype) -> Box:
        return Box(self.lower.to(dtype), self.upper.to(dtype))

    def corners(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` random vertices of every box, shape (n, B, *input_shape)."""
        pick = _rand((n, *self.lower.shape), self.lower, generator) < 0.5
        return torch.where(pick, self.upper, self.lower)


class LinfBall(Box):
    """``{x' : ||x' - x||_inf <= eps}`` intersected with ``domain`` (None: unbounded)."""

    def __init__(self, x: torch.Tensor, eps: float | torch.Tensor, domain: Domain = (0.0, 1.0)):
        xmin, xmax = finite_range("input", x)
        e = as_batch_eps(eps, x)
        self.center_range = (xmin, xmax)  #: smallest and largest entry of the centre
        #: whether the centre itself lies in the set (it does unless it is outside the domain)
        self.center_inside = domain is None or (domain[0] <= xmin and xmax <= domain[1])
        if domain is not None and self.center_inside:
            # x inside the domain and eps >= 0: lo <= x <= hi, finite, one clamp each
            self.lower = (x - e).clamp_(min=domain[0])
            self.upper = (x + e).clamp_(max=domain[1])
        else:
            lo, hi = x - e, x + e
            if domain is not None:
                lo, hi = lo.clamp(*domain), hi.clamp(*domain)
                lo, hi = torch.minimum(lo, x), torch.maximum(hi, x)  # x outside the domain
            super().__init__(lo, hi)
        self.center, self.eps, self.domain = x, e, domain
        self._eps_arg = eps

    def to(self, dtype: torch.dtype) -> LinfBall:
        eps = self._eps_arg
        eps = eps.to(dtype) if isinstance(eps, torch.Tensor) else eps
        return LinfBall(self.center.to(dtype), eps, self.domain)

    def lift(self) -> Lifted:
        """The (domain-clipped) box, with the ball's centre as the clean input."""
        return Lifted(lower=self.lower, upper=self.upper, clean=self.center)


class L2Ball(Spec):
    """``{x' : ||x' - x||_2 <= eps}`` intersected with ``domain`` (None: unbounded).

    ``project`` projects onto the ball and then clamps to the domain; clamping moves every
    coordinate towards ``x`` (which lies in the domain), so the result is inside both sets.
    """

    def __init__(self, x: torch.Tensor, eps: float | torch.Tensor, domain: Domain = (0.0, 1.0)):
        check_finite("input", x)
        self.center, self.eps, self.domain = x, as_batch_eps(eps, x), domain
        self._eps_arg = eps

    def to(self, dtype: torch.dtype) -> L2Ball:
        eps = self._eps_arg
        eps = eps.to(dtype) if isinstance(eps, torch.Tensor) else eps
        return L2Ball(self.center.to(dtype), eps, self.domain)

    @property
    def batch_size(self) -> int:
        return self.center.shape[0]

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.center - self.eps, self.center + self.eps
        if self.domain is not None:
            lo, hi = lo.clamp(*self.domain), hi.clamp(*self.domain)
        return lo, hi

    def lift(self) -> Lifted:
        """The enclosing box intersected with the ball itself (engines use the dual norm)."""
        lo, hi = self.input_box()
        radius = self.eps.reshape(-1).expand(self.center.shape[0])
        return Lifted(lower=lo, upper=hi, clean=self.center, l2_center=self.center,
                      l2_radius=radius)

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.domain is None else x.clamp(*self.domain)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self.center
        norm = d.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
        scale = torch.clamp(self.eps / norm.clamp_min(1e-12), max=1.0)
        return self._clamp(self.center + d * scale)

    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        d = (x - self.center).flatten(1).norm(dim=1)
        ok = d <= self.eps.flatten()[: d.shape[0]].expand_as(d) + tol
        if self.domain is not None:
            lo, hi = self.domain
            ok &= ((x >= lo - tol) & (x <= hi + tol)).flatten(1).all(dim=1)
        return ok

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (n, *self.center.shape)
        g = torch.randn(shape, generator=generator, dtype=self.center.dtype,
                        device=self.center.device)
        flat = g.flatten(2)
        direction = flat / flat.norm(dim=2, keepdim=True).clamp_min(1e-12)
        dim = flat.shape[2]
        radius = _rand((n, self.center.shape[0], 1), self.center, generator) ** (1.0 / dim)
        eps = self.eps.flatten() if self.eps.dim() else self.eps
        eps = eps.view(1, -1, 1) if eps.dim() else eps
        pts = self.center.unsqueeze(0) + (direction * radius * eps).view(shape)
        return self._clamp(pts)
