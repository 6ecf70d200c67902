"""Elementwise affine maps ``y = scale * x + shift``: Normalize, BatchNorm, Dropout, Identity.

``scale`` and ``shift`` broadcast against one sample (per channel, per neuron or scalar).
BatchNorm in eval mode uses its running statistics; in train mode (or without running
statistics) it uses the batch statistics of the clean input, computed when the graph is
built, so gradients flow through them as in the network's own forward pass. Dropout is
bounded as the identity (its eval-mode behaviour) in both modes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...errors import CertkitError
from ...models.layers import Normalize
from ..coeffs import Coeffs, scale, weighted_sum
from ..forms import Forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax


class AffineOp(Op):
    """``scale * x + shift`` with broadcastable (unbatched) ``scale`` and ``shift``."""

    kind = "affine"
    elementwise = True

    def __init__(self, scale_: Tensor, shift: Tensor, per_channel: bool) -> None:
        self.scale, self.shift, self.per_channel = scale_, shift, per_channel

    def forward(self, *xs: Tensor) -> Tensor:
        return xs[0] * self.scale + self.shift

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        a, b = lo * self.scale, hi * self.scale
        return torch.minimum(a, b) + self.shift, torch.maximum(a, b) + self.shift

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        f = forms[0]
        if f.exact:
            w, b = f.wl * self.scale, f.bl * self.scale + self.shift
            return Forms(w, b, w, b)
        pos, neg = self.scale.clamp(min=0), self.scale.clamp(max=0)
        return Forms(f.wl * pos + f.wu * neg, f.bl * pos + f.bu * neg + self.shift,
                     f.wu * pos + f.wl * neg, f.bu * pos + f.bl * neg + self.shift)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        bias = weighted_sum(c, self.shift, self.per_channel)
        return [scale(c, self.scale, self.per_channel)], bias


def _channel_view(t: Tensor, x: Tensor) -> Tensor:
    """(C,) -> (C, 1, ..., 1) against one sample of ``x``."""
    return t.to(x.dtype).view(-1, *([1] * (x.dim() - 2)))


@register_layer(Normalize)
def _lower_normalize(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, Normalize)
    if x.dim() < 2 or module.mean.numel() not in (1, x.shape[1]):
        raise CertkitError(f"Normalize has {module.mean.numel()} channels, the input "
                           f"{tuple(x.shape)} does not match")
    inv = 1.0 / _channel_view(module.std, x)
    return [AffineOp(inv, -_channel_view(module.mean, x) * inv, per_channel=True)]


@register_layer(nn.BatchNorm1d, nn.BatchNorm2d)
def _lower_batchnorm(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d)
    want = 4 if isinstance(module, nn.BatchNorm2d) else 2
    if x.dim() != want:
        raise CertkitError(f"{type(module).__name__} on inputs of shape {tuple(x.shape)} is "
                           "not supported")
    use_batch = module.training or module.running_mean is None or module.running_var is None
    if use_batch:
        dims = [0, *range(2, x.dim())]
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
    else:
        mean, var = module.running_mean, module.running_var
    inv = torch.rsqrt(var.to(x.dtype) + module.eps)
    weight = module.weight if module.affine else torch.ones_like(inv)
    bias = module.bias if module.affine else torch.zeros_like(inv)
    sc = weight * inv
    return [AffineOp(_channel_view(sc, x), _channel_view(bias - mean * sc, x), per_channel=True)]


@register_layer(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
def _lower_identity(module: nn.Module, x: Tensor) -> list[Op]:
    return []
