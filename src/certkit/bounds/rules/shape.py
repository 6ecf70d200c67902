"""Shape-only ops (``Flatten``, ``Unflatten``, ``view``/``reshape``) and residual ``add``."""

from __future__ import annotations

from torch import Tensor, nn

from ..coeffs import Coeffs, Dense, OneHot, to_dense
from ..forms import Forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax


class ReshapeOp(Op):
    """Reshape every sample to ``shape`` (the flat order of the neurons is unchanged)."""

    kind = "reshape"
    elementwise = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def forward(self, *xs: Tensor) -> Tensor:
        return xs[0].reshape(xs[0].shape[0], *self.shape)

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        return self.forward(lo), self.forward(hi)

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        f = forms[0]
        b, n = f.wl.shape[:2]

        def reshape(t: Tensor) -> Tensor:
            lead = (b, n) if t.dim() == f.wl.dim() else (b,)
            return t.reshape(*lead, *self.shape)

        return f.map(reshape)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        in_shape = self.in_shapes[0]
        if isinstance(c, OneHot):
            return [OneHot(c.idx, c.val, in_shape)], None
        a = to_dense(c)
        return [Dense(a.reshape(*a.shape[:2], *in_shape))], None


class AddOp(Op):
    """Sum of two nodes of the same shape (residual connections)."""

    kind = "add"

    def forward(self, *xs: Tensor) -> Tensor:
        return xs[0] + xs[1]

    def interval(self, *bounds: Interval) -> Interval:
        (l1, u1), (l2, u2) = bounds
        return l1 + l2, u1 + u2

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        f, g = forms
        return Forms(f.wl + g.wl, f.bl + g.bl, f.wu + g.wu, f.bu + g.bu)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        return [c, c], None


def _lower_reshape(module: nn.Module, x: Tensor) -> list[Op]:
    return [ReshapeOp(tuple(module(x).shape[1:]))]


register_layer(nn.Flatten, nn.Unflatten)(_lower_reshape)
