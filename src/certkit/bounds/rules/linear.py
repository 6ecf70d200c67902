"""``nn.Linear``: ``y = W x + b`` on flat inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import CertkitError
from ..coeffs import Coeffs, Dense, OneHot, to_dense
from ..forms import Forms, affine_forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax


class LinearOp(Op):
    """Dense affine map of a flat vector."""

    kind = "linear"

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, *xs: Tensor) -> Tensor:
        return F.linear(xs[0], self.weight, self.bias)

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        mid = F.linear((lo + hi) / 2, self.weight, self.bias)
        rad = F.linear((hi - lo) / 2, self.weight.abs())
        return mid - rad, mid + rad

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        w = self.weight
        return affine_forms(forms[0], lambda t: F.linear(t, w), lambda t: F.linear(t, w.abs()),
                            self.bias)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        if isinstance(c, OneHot):
            a = c.val.unsqueeze(-1) * self.weight[c.idx]
            bias = None if self.bias is None else c.val * self.bias[c.idx]
            return [Dense(a)], bias
        a = to_dense(c)
        bias = None if self.bias is None else torch.matmul(a, self.bias)
        return [Dense(torch.matmul(a, self.weight))], bias

    def describe(self) -> str:
        return f"linear {self.weight.shape[1]}->{self.weight.shape[0]}"


@register_layer(nn.Linear)
def _lower_linear(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, nn.Linear)
    if x.dim() != 2:
        raise CertkitError(f"Linear layers are supported on flat inputs (B, n) only; this one "
                           f"gets {tuple(x.shape)} (add a Flatten before it)")
    return [LinearOp(module.weight, module.bias)]
