"""``nn.ReLU`` and the image-domain ``Clip`` (lowered to two ReLUs).

``clip(x, lo, hi) = hi - relu(hi - lo - relu(x - lo))``, the same construction as the
pixel-clipping layers of the bias-field paper (ROBNET, section 5), so every engine handles
clipping with its ReLU relaxation and the intermediate bounds in between.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...models.layers import Clip
from ..coeffs import (
    Coeffs,
    Dense,
    OneHot,
    Patches,
    by_position,
    gather,
    grid_windows,
    tiled,
    to_dense,
    windows,
)
from ..forms import Forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax
from .elementwise import AffineOp


class ReluOp(Op):
    """Elementwise ``max(x, 0)``."""

    kind = "relu"
    elementwise = True

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.relu(xs[0])

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        return lo.clamp(min=0), hi.clamp(min=0)

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        assert relax is not None
        f = forms[0]
        alpha, slope = relax.alpha.unsqueeze(1), relax.slope.unsqueeze(1)
        return Forms(f.wl * alpha, f.bl * relax.alpha, f.wu * slope,
                     f.bu * relax.slope + relax.icpt)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        assert relax is not None
        if relax.beta_rows is not None:
            (out,), bias = _dense_backward(to_dense(c), relax)
            assert isinstance(out, Dense)
            return [Dense(relax.add_beta(out.a))], bias
        if relax.alpha_rows is not None and not isinstance(c, Dense):
            c = Dense(to_dense(c))
        if isinstance(c, OneHot):
            val = c.val
            neg = val.clamp(max=0)
            alpha = gather(relax.alpha, c)
            new = val.clamp(min=0) * alpha + neg * gather(relax.slope, c)
            return [OneHot(c.idx, new, c.shape)], neg * gather(relax.icpt, c)
        if isinstance(c, Patches):
            b, r = c.a.shape[:2]
            n = tiled(c)
            if n:  # every neuron's rows: slopes cut once per position, broadcast over rows
                w = grid_windows(relax.packed(), c, n).view(b, 1, n, 3, *c.a.shape[2:])
                new, neg = _mix(by_position(c, n), w[:, :, :, 0], w[:, :, :, 1])
                bias = (neg * w[:, :, :, 2]).sum(dim=(3, 4, 5))
                return [c.like(new.view_as(c.a))], bias.view(b, r)
            w = windows(relax.packed(), c).view(b, r, 3, *c.a.shape[2:])
            new, neg = _mix(c.a, w[:, :, 0], w[:, :, 1])
            bias = torch.bmm(neg.reshape(b * r, 1, -1), w[:, :, 2].reshape(b * r, -1, 1))
            return [c.like(new)], bias.view(b, r)
        return _dense_backward(c.a, relax)


def _mix(a: Tensor, alpha: Tensor, slope: Tensor) -> tuple[Tensor, Tensor]:
    """``max(a, 0) * alpha + min(a, 0) * slope`` and ``min(a, 0)``, with few memory passes."""
    neg = a.clamp(max=0)
    new = (a - neg) * alpha
    new.addcmul_(neg, slope)
    return new, neg


def _dense_backward(a: Tensor, relax: Relax) -> tuple[list[Coeffs], Tensor]:
    """Dense rows through a ReLU; only the unstable neurons need the sign-dependent slopes."""
    b, r = a.shape[:2]
    idx, valid = relax.unstable_index()
    n, u = a[0, 0].numel(), idx.shape[1]
    rows_idx = idx.unsqueeze(1).expand(-1, r, -1)
    per_row = relax.alpha_rows
    if 4 * u > n:
        if per_row is None:
            alpha = relax.alpha.unsqueeze(1)
        else:
            alpha = relax.active.reshape(b, 1, n).to(a.dtype).expand(b, r, n)
            alpha = alpha.scatter(2, rows_idx, per_row).view_as(a)
        new, neg = _mix(a, alpha, relax.slope.unsqueeze(1))
        icpt = relax.icpt.reshape(b, -1, 1)
        return [Dense(new)], torch.bmm(neg.flatten(2), icpt).squeeze(-1)
    af = a.reshape(b, r, n)
    out = af * relax.active.reshape(b, 1, n).to(a.dtype)
    if u == 0:
        return [Dense(out.view_as(a))], a.new_zeros(b, r)
    au = af.gather(2, rows_idx)
    if per_row is not None:
        alpha = per_row
    else:
        alpha = relax.alpha.reshape(b, n).gather(1, idx).unsqueeze(1)
    slope = relax.slope.reshape(b, n).gather(1, idx).unsqueeze(1)
    icpt = relax.icpt.reshape(b, n).gather(1, idx).unsqueeze(1)
    mixed, neg = _mix(au, alpha, slope)
    out.scatter_(2, rows_idx, mixed)
    bias = (neg * icpt * valid.unsqueeze(1).to(a.dtype)).sum(dim=-1)
    return [Dense(out.view_as(a))], bias


@register_layer(nn.ReLU)
def _lower_relu(module: nn.Module, x: Tensor) -> list[Op]:
    return [ReluOp()]


@register_layer(Clip)
def _lower_clip(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, Clip)
    lo, hi = module.lower, module.upper

    def const(v: float) -> Tensor:
        return torch.tensor(v, dtype=x.dtype, device=x.device)

    ops: list[Op] = []
    if lo != 0.0:
        ops.append(AffineOp(const(1.0), const(-lo), per_channel=True))
    ops += [ReluOp(), AffineOp(const(-1.0), const(hi - lo), per_channel=True), ReluOp(),
            AffineOp(const(-1.0), const(hi), per_channel=True)]
    return ops
