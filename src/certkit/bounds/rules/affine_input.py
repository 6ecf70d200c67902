"""The per-sample input layer of an :class:`~certkit.specs.AffineSet`: ``x = c + G a``.

Its input is the low-dimensional coefficient vector ``a`` (B, k); every sample has its own
``c`` and ``G``. Backward rows over ``x`` become ``k``-dimensional rows over ``a``, so
CROWN concretises over the coefficient box, and SSIP carries ``k`` columns instead of one
per pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...errors import CertkitError
from ...specs.affine import AffineLayer
from ..coeffs import Coeffs, Dense, OneHot, to_dense
from ..forms import Forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax


class BatchedAffineOp(Op):
    """``a (B, k) -> center + G a`` with ``center`` (B, *shape), ``G`` (B, n, k)."""

    kind = "affine-input"

    def __init__(self, center: Tensor, generators: Tensor) -> None:
        self.center, self.generators = center, generators

    def _apply(self, a: Tensor, g: Tensor) -> Tensor:
        return torch.bmm(g, a.unsqueeze(-1)).squeeze(-1).view(a.shape[0], *self.center.shape[1:])

    def forward(self, *xs: Tensor) -> Tensor:
        return self.center + self._apply(xs[0], self.generators)

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        mid = self.center + self._apply((lo + hi) / 2, self.generators)
        rad = self._apply((hi - lo) / 2, self.generators.abs())
        return mid - rad, mid + rad

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        f = forms[0]
        shape = self.center.shape[1:]
        b, n_in = f.wl.shape[:2]
        gt = self.generators.transpose(1, 2)  # (B, k, n)

        def lin(w: Tensor, g: Tensor) -> Tensor:  # (B, n_in, k) -> (B, n_in, *shape)
            return torch.bmm(w, g).view(b, n_in, *shape)

        if f.exact:
            w = lin(f.wl, gt)
            off = self.forward(f.bl)
            return Forms(w, off, w, off)
        wm, wd = lin((f.wl + f.wu) / 2, gt), lin((f.wu - f.wl) / 2, gt.abs())
        bm = self.forward((f.bl + f.bu) / 2)
        bd = self._apply((f.bu - f.bl) / 2, self.generators.abs())
        return Forms(wm - wd, bm - bd, wm + wd, bm + bd)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        cflat = self.center.flatten(1)
        if isinstance(c, OneHot):
            rows = torch.gather(self.generators, 1,
                                c.idx.unsqueeze(-1).expand(-1, -1, self.generators.shape[2]))
            return [Dense(c.val.unsqueeze(-1) * rows)], c.val * cflat.gather(1, c.idx)
        a = to_dense(c).flatten(2)
        bias = torch.bmm(a, cflat.unsqueeze(-1)).squeeze(-1)
        return [Dense(torch.bmm(a, self.generators))], bias

    def take(self, rows: slice | Tensor) -> Op:
        op = BatchedAffineOp(self.center[rows], self.generators[rows])
        op.in_shapes, op.out_shape = self.in_shapes, self.out_shape
        return op


@register_layer(AffineLayer)
def _lower_affine_layer(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, AffineLayer)
    if x.dim() != 2 or x.shape != (module.center.shape[0], module.generators.shape[2]):
        raise CertkitError(f"AffineLayer expects coefficients of shape "
                           f"{(module.center.shape[0], module.generators.shape[2])}, "
                           f"got {tuple(x.shape)}")
    return [BatchedAffineOp(module.center.to(x.dtype), module.generators.to(x.dtype))]
