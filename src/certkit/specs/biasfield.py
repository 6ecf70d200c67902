"""Bias-field perturbations (Henriksen & Lomuscio 2023): smooth polynomial intensity changes.

A k-th order 2-D bias field over an ``H x W`` image is ``B(a) = sum_{t,g} a_{t,g} b^{t,g}``
with ``b^{t,g}_{i,j} = (i/H)^t (j/W)^g`` (``i = 0..H-1`` rows, ``j = 0..W-1`` columns, as in
the paper's Definition 3). The transform is ``T(x; a^m, a^a) = x * B^m(a^m) + B^a(a^a)``,
followed by clipping to [0, 1]. For a fixed ``x`` it is affine in the coefficients:
``T = c + W_{T,x} [a^m, a^a]`` with columns ``x * b^{t,g}`` (multiplicative terms) and
``b^{t,g}`` (additive terms), and ``c = x`` when there is no multiplicative field (else 0):
the paper's transform network ``N_{T,x}`` (Definition 7) is the model behind an
:class:`~certkit.specs.AffineLayer` and a :class:`~certkit.models.Clip`.

Conventions (all explicit):

* **terms** ``basis="total"`` (default): every ``(t, g)`` with ``t + g <= k``,
  ``(k+1)(k+2)/2`` terms (10 for k = 3), ordered by total degree ``d = t + g`` and, within a
  degree, by decreasing ``t``: ``(0,0), (1,0), (0,1), (2,0), (1,1), (0,2), ...``.
  ``basis="tensor"``: every ``t, g <= k`` (``(k+1)^2`` terms, 16 for k = 3, the count quoted
  in the paper's section 4), ordered ``(t, g)`` lexicographically.
* **channels** ``channels="shared"`` (default): one field for all channels;
  ``"per-channel"``: an independent field per channel (``C`` times the coefficients,
  channel-major).
* **coefficients** ``[a^m, a^a]`` (multiplicative block first, each block laid out as
  above). The box follows the paper's experiments: the constant multiplicative term in
  ``[1 - eps, 1 + eps]``, every other multiplicative term in ``[-eps/15, eps/15]``; the
  constant additive term in ``[-eps, eps]``, the other additive terms in
  ``[-eps/15, eps/15]``. ``eps`` is a fraction (the paper's tables give it in percent).
  So :func:`Brightness` (order-0 additive) is ``x + a``, ``|a| <= eps``, and :func:`Contrast`
  (order-0 multiplicative) is ``a x``, ``|a - 1| <= eps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import CertkitError, choice_error
from ..models.layers import Clip
from .affine import AffineLayer, AffineSet
from .base import Lifted, check_finite

HIGHER_ORDER_DIVISOR = 15.0  # the paper's box: non-constant terms in [-eps/15, eps/15]
BASES = ("total", "tensor")
CHANNELS = ("shared", "per-channel")


def term_orders(order: int, basis: str = "total") -> list[tuple[int, int]]:
    """The ``(t, g)`` exponent pairs of the polynomial terms, in coefficient order."""
    if isinstance(order, bool) or int(order) != order or order < 0:
        raise CertkitError(f"bias-field order must be an integer >= 0, got {order!r}")
    if basis == "total":
        return [(t, d - t) for d in range(order + 1) for t in range(d, -1, -1)]
    if basis == "tensor":
        return [(t, g) for t in range(order + 1) for g in range(order + 1)]
    raise choice_error("bias-field basis", basis, BASES)


def basis_images(height: int, width: int, order: int, basis: str = "total", *,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """The basis fields ``b^{t,g}`` as a tensor of shape (terms, H, W)."""
    i = torch.arange(height, dtype=dtype, device=device) / height
    j = torch.arange(width, dtype=dtype, device=device) / width
    return torch.stack([torch.outer(i ** t, j ** g) for t, g in term_orders(order, basis)])


class BiasFieldSet(AffineSet):
    """``{clip(T(x; a)) : a in box}`` for every sample (build it with :class:`BiasField`).

    Holds the definition (``x``, the field's settings, eps) so :meth:`to` rebuilds it exactly
    in another floating-point type. The lifted network is ``Clip(AffineLayer(a))``: the
    transform layer ``W_{T,x}`` over the coefficient box followed by clipping to [0, 1].
    """

    def __init__(self, x: torch.Tensor, field: BiasField) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4:
            raise CertkitError("bias fields need a floating-point image batch of shape "
                               f"(B, C, H, W), got {tuple(getattr(x, 'shape', ()))}")
        check_finite("input", x)
        self.x, self.field = x, field
        center, gens, lo, hi = field.build(x)
        super().__init__(center, gens, lo, hi)

    def to(self, dtype: torch.dtype) -> BiasFieldSet:
        return BiasFieldSet(self.x.to(dtype), self.field)

    def transform(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``T(x; a)`` before clipping, for coefficients of shape (B, k)."""
        return AffineLayer(self.center, self.generators)(coeffs)

    def point(self, coeffs: torch.Tensor) -> torch.Tensor:
        """The clipped images ``clip(T(x; a))`` for coefficients of shape (B, k)."""
        return self.transform(coeffs).clamp(0.0, 1.0)

    def input_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = super().input_box()
        return lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Least-squares coefficients of ``x`` fitted on its unclipped pixels (0 < x < 1)."""
        inner = ((x > 0) & (x < 1)).flatten(1).to(self.generators.dtype).unsqueeze(-1)
        rhs = (x - self.center).flatten(1).unsqueeze(-1).to(self.generators.dtype)
        return torch.linalg.lstsq(self.generators * inner, rhs * inner).solution.squeeze(-1)

    def lift(self) -> Lifted:
        """``Clip(AffineLayer)`` over the coefficient box; clean = the box's midpoint (= x)."""
        mid = (self.coeff_lower + self.coeff_upper) / 2
        prefix = nn.Sequential(AffineLayer(self.center, self.generators), Clip(0.0, 1.0))
        return Lifted(lower=self.coeff_lower, upper=self.coeff_upper, clean=mid, prefix=prefix)

    def fields(self, coeffs: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The multiplicative and additive fields ``(B^m(a^m), B^a(a^a))``, each (B, C, H, W)
        or None when the transform has no such field."""
        return self.field.fields(self.x, coeffs)


@dataclass(frozen=True)
class BiasField:
    """A factory ``x -> BiasFieldSet``: the k-th order bias-field perturbation of radius eps.

    ``BiasField(order=3, eps=0.1)(x)`` is the paper's third-order multiplicative field.
    ``multiplicative``/``additive`` choose the fields, ``channels`` whether colour channels
    share one field, ``basis`` which polynomial terms (see the module docstring).
    """

    order: int = 3
    multiplicative: bool = True
    additive: bool = False
    eps: float = 0.1
    channels: Literal["shared", "per-channel"] = "shared"
    basis: Literal["total", "tensor"] = "total"

    def __post_init__(self) -> None:
        term_orders(self.order, self.basis)
        if not (self.multiplicative or self.additive):
            raise CertkitError("a bias field needs a multiplicative or an additive part")
        if self.channels not in CHANNELS:
            raise choice_error("bias-field channels", self.channels, CHANNELS)
        if isinstance(self.eps, bool) or not math.isfinite(float(self.eps)) or self.eps < 0:
            raise CertkitError(f"eps must be a finite number >= 0, got {self.eps!r}")

    def __call__(self, x: torch.Tensor) -> BiasFieldSet:
        return BiasFieldSet(x, self)

    @property
    def terms_per_field(self) -> int:
        """Polynomial terms of one field (one channel's field when per-channel)."""
        return len(term_orders(self.order, self.basis))

    def num_coeffs(self, channels: int) -> int:
        """Coefficients for images with ``channels`` channels."""
        per = self.terms_per_field * (channels if self.channels == "per-channel" else 1)
        return per * (int(self.multiplicative) + int(self.additive))

    def _basis(self, x: torch.Tensor) -> torch.Tensor:
        """Basis images over the whole image, shape (P, C, H, W), P coefficients per field."""
        c, h, w = x.shape[1:]
        b = basis_images(h, w, self.order, self.basis, dtype=x.dtype, device=x.device)
        if self.channels == "shared":
            return b.unsqueeze(1).expand(-1, c, -1, -1)
        eye = torch.eye(c, dtype=x.dtype, device=x.device)
        return (eye[:, None, :, None, None] * b[None, :, None]).reshape(c * b.shape[0], c, h, w)

    def constant_mask(self, channels: int) -> torch.Tensor:
        """Boolean (k,): which coefficients (of ``[a^m, a^a]``) are constant terms."""
        const = torch.tensor([t == 0 and g == 0 for t, g in term_orders(self.order, self.basis)])
        const = const.repeat(1 if self.channels == "shared" else channels)
        return const.repeat(int(self.multiplicative) + int(self.additive))

    def _radii(self, x: torch.Tensor) -> torch.Tensor:
        """Per-coefficient half-widths of one field (P,): eps for constants, eps/15 else."""
        const = self._const_mask(x)
        big = torch.full(const.shape, float(self.eps), dtype=x.dtype, device=x.device)
        return torch.where(const, big, big / HIGHER_ORDER_DIVISOR)  # in x's dtype throughout

    def _const_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Which coefficients of one field are constant terms (P,)."""
        n_fields = int(self.multiplicative) + int(self.additive)
        p = self.num_coeffs(x.shape[1]) // n_fields
        return self.constant_mask(x.shape[1])[:p].to(x.device)

    def build(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                              torch.Tensor]:
        """``(center, generators (B, n, k), coeff_lower, coeff_upper)`` of the affine set."""
        b = x.shape[0]
        basis = self._basis(x)  # (P, C, H, W)
        rad = self._radii(x)
        cols, lo, hi = [], [], []
        if self.multiplicative:
            cols.append((x.unsqueeze(1) * basis.unsqueeze(0)).flatten(2))  # (B, P, n)
            mid = self._const_mask(x).to(x.dtype)  # constant term centred at 1
            lo.append(mid - rad)
            hi.append(mid + rad)
        if self.additive:
            cols.append(basis.flatten(1).unsqueeze(0).expand(b, -1, -1))
            lo.append(-rad)
            hi.append(rad)
        gens = torch.cat(cols, dim=1).transpose(1, 2).contiguous()  # (B, n, k)
        center = torch.zeros_like(x) if self.multiplicative else x.clone()
        lower = torch.cat(lo).unsqueeze(0).expand(b, -1).contiguous()
        upper = torch.cat(hi).unsqueeze(0).expand(b, -1).contiguous()
        return center, gens, lower, upper

    def fields(self, x: torch.Tensor, coeffs: torch.Tensor) -> tuple[torch.Tensor | None,
                                                                     torch.Tensor | None]:
        """``(B^m(a^m), B^a(a^a))`` for coefficients (B, k) laid out as ``[a^m, a^a]``."""
        basis = self._basis(x)
        p = basis.shape[0]
        if coeffs.shape != (x.shape[0], self.num_coeffs(x.shape[1])):
            raise CertkitError(f"coefficients must have shape "
                               f"{(x.shape[0], self.num_coeffs(x.shape[1]))}, "
                               f"got {tuple(coeffs.shape)}")
        coeffs = coeffs.to(x.dtype)
        out: list[torch.Tensor | None] = []
        start = 0
        for on in (self.multiplicative, self.additive):
            if not on:
                out.append(None)
                continue
            out.append(torch.einsum("bp,pchw->bchw", coeffs[:, start:start + p], basis))
            start += p
        return out[0], out[1]


def Brightness(eps: float) -> BiasField:  # noqa: N802 - a spec factory reads like a class
    """Order-0 additive field: ``clip(x + a)``, ``|a| <= eps`` (Theorem 2's transform)."""
    return BiasField(order=0, multiplicative=False, additive=True, eps=eps)


def Contrast(eps: float) -> BiasField:  # noqa: N802
    """Order-0 multiplicative field: ``clip(a x)``, ``|a - 1| <= eps``."""
    return BiasField(order=0, multiplicative=True, additive=False, eps=eps)
