"""The space an attack searches: a spec's points, tiled over restarts and targets.

An attack iterates on ``params``. For Lp balls, boxes and other plain specs the params are
the inputs themselves. A spec whose :meth:`~certkit.specs.Spec.lift` has a ``prefix`` (an
affine set, a bias field, brightness/contrast, ...) is searched in its coefficient box
instead, the model seeing ``prefix(params)``: the same view the bound engines take, so a
spec is written once for both. Rows are tiled copy-major: row ``r`` belongs to sample
``r % B`` of copy ``r // B``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from ..errors import CertkitError
from ..specs import Box, L2Ball, LinfBall, Spec

Geometry = Literal["linf", "l2"]
Transform = Callable[[torch.Tensor], torch.Tensor]


def param_form(spec: Spec) -> tuple[Box, Transform, torch.Tensor] | None:
    """(coefficient box, transform to inputs, centre coefficients), or None for plain specs."""
    lift = getattr(spec, "lift", None)
    lifted = lift() if callable(lift) else None
    if lifted is None or lifted.prefix is None:
        return None
    if lifted.l2_center is not None:
        raise CertkitError("attacks do not support L2 sets behind a transform")
    return Box(lifted.lower, lifted.upper), lifted.prefix, lifted.clean


def _rep(t: torch.Tensor, copies: int) -> torch.Tensor:
    return t if copies == 1 else t.repeat(copies, *[1] * (t.dim() - 1))


class _Tiled(Spec):
    """``copies`` stacked copies of an arbitrary spec, one call per copy."""

    def __init__(self, spec: Spec, copies: int) -> None:
        self.spec, self.copies = spec, copies

    @property
    def batch_size(self) -> int:
        return self.spec.batch_size * self.copies

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.cat([fn(c) for c in x.chunk(self.copies)])

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.spec.input_box()
        return _rep(lo, self.copies), _rep(hi, self.copies)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self._map(self.spec.project, x)

    def contains(self, x: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
        return self._map(lambda c: self.spec.contains(c, tol), x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.cat([self.spec.sample(n, generator) for _ in range(self.copies)], dim=1)


def tile(spec: Spec, copies: int) -> Spec:
    """The spec repeated ``copies`` times along the batch (copy-major)."""
    if copies == 1:
        return spec
    if isinstance(spec, Box):  # LinfBall included: its projection is a clamp to its box
        return Box(_rep(spec.lower, copies), _rep(spec.upper, copies))
    if isinstance(spec, L2Ball):
        eps = spec.eps if spec.eps.dim() == 0 else spec.eps.flatten().repeat(copies)
        return L2Ball(_rep(spec.center, copies), eps, spec.domain)
    return _Tiled(spec, copies)


def radius(spec: Spec) -> torch.Tensor:
    """The natural step scale of a set, broadcastable to its points: (B, 1, ...) or (B, ...)."""
    if isinstance(spec, LinfBall | L2Ball):
        c = spec.center
        return spec.eps.reshape(-1, *[1] * (c.dim() - 1)).expand(c.shape[0],
                                                                 *[1] * (c.dim() - 1))
    lo, hi = spec.input_box()
    return (hi - lo) / 2


class SearchSpace:
    """Where the iterate lives, for ``copies`` stacked copies of one spec."""

    def __init__(self, spec: Spec, copies: int = 1) -> None:
        self.spec, self.copies = spec, copies
        form = param_form(spec)
        self.param = form is not None
        base: Spec = spec
        if form is not None:
            base, self._transform, self._center = form
        self.batch = base.batch_size
        self.set = tile(base, copies)
        self.geometry: Geometry = "l2" if isinstance(base, L2Ball) else "linf"
        self.radius = _rep(radius(base), copies)
        self._bounds: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def center(self, x: torch.Tensor) -> torch.Tensor:
        """The unperturbed point of every row: ``x`` projected, or the centre coefficients."""
        c = self._center if self.param else x
        return self.set.project(_rep(c, self.copies))

    def random(self, generator: torch.Generator | None) -> torch.Tensor:
        """A random point of every row's set.

        Linf balls: ``x + U(-eps, eps)`` clipped to the domain, the start of Madry et al.
        (saturated pixels start on the domain boundary half of the time; measurably stronger
        than uniform in the clipped box). L2 balls: uniform in the ball, clipped. Other sets:
        uniform in the set.
        """
        if isinstance(self.spec, LinfBall) and not self.param:
            return self._ball_draw(generator, full_radius=False)
        return self.set.random_start(generator)

    def on_sphere(self, g: torch.Generator | None) -> torch.Tensor:
        """Random points at full radius from a ball's centre (the APGD initialisation): a
        uniform direction scaled to Linf (or L2) norm ``eps``, projected; other sets: uniform
        points (:meth:`random`)."""
        if self.param or not isinstance(self.spec, LinfBall | L2Ball):
            return self.random(g)
        return self._ball_draw(g, full_radius=True)

    def _ball_draw(self, g: torch.Generator | None, full_radius: bool) -> torch.Tensor:
        """``centre + radius * t``, projected. Linf: ``t`` uniform in the unit cube, rescaled
        to the cube's surface with ``full_radius``. L2 (full radius only; points inside the
        ball come from :meth:`L2Ball.sample`): a uniform unit direction."""
        c = _rep(self.spec.center, self.copies)
        rows = (-1, *[1] * (c.dim() - 1))
        if self.geometry == "linf":
            t = torch.rand(c.shape, generator=g, dtype=c.dtype, device=c.device) * 2 - 1
            if full_radius:
                t = t / t.flatten(1).abs().amax(dim=1).clamp_min(1e-12).view(rows)
        else:
            t = torch.randn(c.shape, generator=g, dtype=c.dtype, device=c.device)
            t = t / t.flatten(1).norm(dim=1).clamp_min(1e-12).view(rows)
        return self.set.project(c.addcmul(self.radius, t))

    def start(self, x: torch.Tensor, n_center: int, g: torch.Generator | None,
              sphere: bool = False) -> torch.Tensor:
        """Starting points: the centre for the first ``n_center`` copies, random points for
        the rest (uniform in the set, or at full radius with ``sphere``)."""
        draw = self.on_sphere(g) if sphere else self.random(g)
        if n_center <= 0:
            return draw
        p = self.center(x)
        if self.copies > n_center:
            p[n_center * self.batch:] = draw[n_center * self.batch:]
        return p

    def to_input(self, p: torch.Tensor) -> torch.Tensor:
        """Model inputs of all rows (identity unless the spec is parametrised)."""
        if not self.param:
            return p
        fn = self._transform
        return torch.cat([fn(c) for c in p.chunk(self.copies)]) if self.copies > 1 else fn(p)

    def inputs_of(self, p: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Model inputs of rows ``idx`` whose params are ``rows`` (gradients flow to ``rows``)."""
        if not self.param:
            return rows
        full = p.detach().index_put((idx,), rows)
        return self.to_input(full)[idx]

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        """Steepest-ascent direction of unit size in the set's geometry."""
        if self.geometry == "linf":
            return grad.sign()
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        return grad / norm.view(-1, *[1] * (grad.dim() - 1))

    def _row_bounds(self, box: Box, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The box bounds of rows ``idx``, reused while the active rows do not change."""
        cached = self._bounds
        if cached is None or cached[0].shape != idx.shape or not torch.equal(cached[0], idx):
            cached = self._bounds = (idx, box.lower[idx], box.upper[idx])
        return cached[1], cached[2]

    def project_rows(self, p: torch.Tensor, idx: torch.Tensor,
                     rows: torch.Tensor) -> torch.Tensor:
        """Project ``rows`` onto the sets of rows ``idx`` (``p``: the current full iterate)."""
        s = self.set
        if isinstance(s, Box) and type(s).project is Box.project:  # a clamp: these rows only
            lo, hi = self._row_bounds(s, idx)
            return torch.clamp(rows, lo, hi)
        if isinstance(s, L2Ball) and type(s).project is L2Ball.project:
            eps = s.eps if s.eps.dim() == 0 else s.eps.flatten()[idx]
            return L2Ball(s.center[idx], eps, s.domain).project(rows)
        return s.project(p.index_put((idx,), rows))[idx]

    def move(self, p: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor,
             size: float | torch.Tensor) -> torch.Tensor:
        """``rows`` (of rows ``idx``) moved by ``size * radius`` along ``grad``, projected."""
        return self.project_rows(p, idx, rows + self.direction(grad) * (self.radius[idx] * size))

    def advance(self, p: torch.Tensor, grad: torch.Tensor, size: float) -> torch.Tensor:
        """Every row of ``p`` moved by ``size * radius`` along ``grad``, not yet projected."""
        return p.addcmul(self.direction(grad), self.radius * size)

    def step(self, p: torch.Tensor, grad: torch.Tensor, size: float) -> torch.Tensor:
        """Every row of ``p`` moved along ``grad`` (see :meth:`move`), projected."""
        return self.set.project(self.advance(p, grad, size))
