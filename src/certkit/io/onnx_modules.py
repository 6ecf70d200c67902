"""Torch modules that imported ONNX graphs are assembled from.

Everything else an imported network uses is a stock layer the bound engine lowers directly
(``nn.Linear``, ``nn.Conv2d``, ``nn.ReLU``, ``nn.AvgPool2d``, ``nn.Flatten``,
``nn.Unflatten``, :class:`~certkit.models.layers.Clip`). Of the two modules here, the
elementwise affine map with constant tensors registers its own lowering (the engine's
elementwise affine op), and the directed acyclic graph of layers for networks with residual
sums is plain tensor code that the engine traces with ``torch.fx``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..bounds import Op, register_layer
from ..bounds.rules.elementwise import AffineOp


class ConstAffine(nn.Module):
    """``x * scale + shift`` with constants of one sample's shape (either may be absent)."""

    def __init__(self, scale: Tensor | None, shift: Tensor | None) -> None:
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale is not None:
            x = x * self.scale
        if self.shift is not None:
            x = x + self.shift
        return x

    def extra_repr(self) -> str:
        s = None if self.scale is None else tuple(self.scale.shape)
        b = None if self.shift is None else tuple(self.shift.shape)
        return f"scale={s}, shift={b}"


@register_layer(ConstAffine)
def _lower_const_affine(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, ConstAffine)
    sc = torch.ones((), dtype=x.dtype) if module.scale is None else module.scale.to(x.dtype)
    sh = torch.zeros((), dtype=x.dtype) if module.shift is None else module.shift.to(x.dtype)
    return [AffineOp(sc, sh, per_channel=sc.dim() == 0 and sh.dim() == 0)]


class GraphNet(nn.Module):
    """Layers wired as a DAG: value 0 is the input, step ``k`` produces value ``k + 1``.

    A step is ``(layer index, (input,))`` or ``(-1, (a, b))`` for the sum of two values.
    The loop unrolls under ``torch.fx``, so the bound engine sees each layer and each sum.
    """

    def __init__(self, layers: list[nn.Module], plan: list[tuple[int, tuple[int, ...]]]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.plan = [(int(k), tuple(int(i) for i in ins)) for k, ins in plan]

    def forward(self, x: Tensor) -> Tensor:
        values = [x]
        for k, ins in self.plan:
            if k < 0:
                values.append(values[ins[0]] + values[ins[1]])
            else:
                values.append(self.layers[k](values[ins[0]]))
        return values[-1]


def merge_affine(a: ConstAffine, b: ConstAffine) -> ConstAffine:
    """``b(a(x))`` as one :class:`ConstAffine` (same per-sample shape)."""
    sa, ta, sb, tb = a.scale, a.shift, b.scale, b.shift
    scale = sa if sb is None else (sb if sa is None else sa * sb)
    shift = ta
    if shift is not None and sb is not None:
        shift = shift * sb
    if tb is not None:
        shift = tb if shift is None else shift + tb
    return ConstAffine(scale, shift)


def _flat(c: ConstAffine) -> bool:
    return all(t is None or t.dim() <= 1 for t in (c.scale, c.shift))


def _linear(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                    dtype=weight.dtype)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def merge_pair(a: nn.Module, b: nn.Module) -> nn.Module | None:
    """``b(a(x))`` as one layer when both are affine and compatible, else None.

    Merges consecutive constant affine maps and folds flat ones into ``nn.Linear`` layers
    (``Linear`` then shift/scale, or shift/scale then ``Linear``).
    """
    if isinstance(a, ConstAffine) and isinstance(b, ConstAffine):
        return merge_affine(a, b)
    if isinstance(a, nn.Linear) and isinstance(b, ConstAffine) and _flat(b):
        w, bias = a.weight.detach(), None if a.bias is None else a.bias.detach()
        if b.scale is not None:
            w = w * b.scale.reshape(-1, 1)
            bias = None if bias is None else bias * b.scale
        if b.shift is not None:
            shift = b.shift.expand(w.shape[0])
            bias = shift if bias is None else bias + shift
        return _linear(w, bias)
    if isinstance(a, ConstAffine) and isinstance(b, nn.Linear) and _flat(a):
        w, bias = b.weight.detach(), None if b.bias is None else b.bias.detach()
        extra = None if a.shift is None else w @ a.shift.expand(w.shape[1])
        if a.scale is not None:
            w = w * a.scale.reshape(1, -1)
        if extra is not None:
            bias = extra if bias is None else bias + extra
        return _linear(w, bias)
    return None
