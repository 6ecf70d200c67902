"""The architecture zoo: named networks built from the layers the bound engine supports.

Every model is an ``nn.Sequential`` whose first layer is :class:`Normalize`, so inputs and
perturbations live in [0, 1]. Shapes are inferred from the dataset's input shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from ..errors import CertkitError, choice_error
from .layers import Normalize

Shape = tuple[int, ...]


class _Builder:
    """Appends layers while tracking the activation shape (C, H, W) or (N,)."""

    def __init__(self, input_shape: Shape, mean: Sequence[float], std: Sequence[float]) -> None:
        self.shape: Shape = tuple(input_shape)
        self.layers: list[nn.Module] = [Normalize(mean, std)]

    def conv(self, out: int, k: int, stride: int = 1, pad: int = 0, bn: bool = False) -> _Builder:
        c, h, w = self.shape
        h2, w2 = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        if h2 < 1 or w2 < 1:
            raise CertkitError(f"input of shape {self.shape} is too small for this architecture")
        self.layers.append(nn.Conv2d(c, out, k, stride=stride, padding=pad))
        self.shape = (out, h2, w2)
        if bn:
            self.layers.append(nn.BatchNorm2d(out))
        return self.relu()

    def pool(self, k: int) -> _Builder:
        c, h, w = self.shape
        self.layers.append(nn.AvgPool2d(k))
        self.shape = (c, h // k, w // k)
        return self

    def flatten(self) -> _Builder:
        self.layers.append(nn.Flatten())
        self.shape = (math.prod(self.shape),)
        return self

    def dropout(self, p: float) -> _Builder:
        self.layers.append(nn.Dropout(p))
        return self

    def linear(self, out: int, relu: bool = True, bn: bool = False) -> _Builder:
        if len(self.shape) != 1:
            self.flatten()
        self.layers.append(nn.Linear(self.shape[0], out))
        self.shape = (out,)
        if bn:
            self.layers.append(nn.BatchNorm1d(out))
        return self.relu() if relu else self

    def relu(self) -> _Builder:
        self.layers.append(nn.ReLU())
        return self

    def build(self) -> nn.Sequential:
        return nn.Sequential(*self.layers)


BuildFn = Callable[[_Builder, int], _Builder]


@dataclass(frozen=True)
class Architecture:
    """A zoo entry: how to build it, and where it comes from (for the docs)."""

    name: str
    build: BuildFn
    source: str
    summary: str


def _mlp(layers: int, width: int) -> BuildFn:
    def build(b: _Builder, n_classes: int) -> _Builder:
        b.flatten()
        for _ in range(layers - 1):
            b.linear(width)
        return b.linear(n_classes, relu=False)

    return build


def _conv_small(b: _Builder, k: int) -> _Builder:
    return b.conv(16, 4, 2).conv(32, 4, 2).linear(100).linear(k, relu=False)


def _conv_med(b: _Builder, k: int) -> _Builder:
    return b.conv(16, 4, 2, 1).conv(32, 4, 2, 1).linear(1000).linear(k, relu=False)


def _conv_big(b: _Builder, k: int) -> _Builder:
    b.conv(32, 3, 1, 1).conv(32, 4, 2, 1).conv(64, 3, 1, 1).conv(64, 4, 2, 1)
    return b.linear(512).linear(512).linear(k, relu=False)


def _cnn7(bn: bool) -> BuildFn:
    def build(b: _Builder, k: int) -> _Builder:
        b.conv(64, 3, 1, 1, bn).conv(64, 3, 1, 1, bn).conv(128, 3, 2, 1, bn)
        b.conv(128, 3, 1, 1, bn).conv(128, 3, 1, 1, bn)
        return b.linear(512, bn=bn).linear(k, relu=False)

    return build


def _dm_small(b: _Builder, k: int) -> _Builder:
    return b.conv(16, 4, 2).conv(32, 4, 1).linear(100).linear(k, relu=False)


def _dm_medium(b: _Builder, k: int) -> _Builder:
    b.conv(32, 3, 1).conv(32, 4, 2).conv(64, 3, 1).conv(64, 4, 2)
    return b.linear(512).linear(512).linear(k, relu=False)


def _dm_large(b: _Builder, k: int) -> _Builder:
    b.conv(64, 3, 1, 1).conv(64, 3, 1, 1).conv(128, 3, 2, 1).conv(128, 3, 1, 1).conv(128, 3, 1, 1)
    return b.linear(512).linear(k, relu=False)


def _cnn1(bn_layers: int) -> BuildFn:
    def build(b: _Builder, k: int) -> _Builder:
        b.conv(32, 3, 1, bn=bn_layers >= 1).conv(64, 3, 1, bn=bn_layers >= 2).pool(2)
        b.flatten().dropout(0.25).linear(128).dropout(0.5)
        return b.linear(k, relu=False)

    return build


_ERAN = "ERAN (Singh et al.; eth-sri/eran model table)"
_DM = "Gowal et al. 2018 (IBP), as used by CROWN-IBP (Zhang et al. 2020)"
_CNN1 = (
    "Yang et al. 2020 via the TRADES/BN paper (../shared/papers/trades-batchnorm-tradeoff.md); "
    "max-pooling replaced by 2x2 average pooling (no max-pool rule in the bound engine)"
)

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("conv-small", _conv_small, _ERAN,
                     "Conv16 4x4/2, Conv32 4x4/2, FC100, FC(out)"),
        Architecture("conv-med", _conv_med, _ERAN,
                     "Conv16 4x4/2 p1, Conv32 4x4/2 p1, FC1000, FC(out)"),
        Architecture("conv-big", _conv_big, _ERAN + " / DiffAI",
                     "Conv32 3x3 p1, Conv32 4x4/2 p1, Conv64 3x3 p1, Conv64 4x4/2 p1, "
                     "FC512, FC512, FC(out)"),
        Architecture("cnn7", _cnn7(True), "Shi et al. 2021; SABR / CTBench (BN after every layer)",
                     "Conv64 3x3 p1, Conv64 3x3 p1, Conv128 3x3/2 p1, Conv128 3x3 p1, "
                     "Conv128 3x3 p1, FC512, FC(out); BatchNorm after each hidden layer"),
        Architecture("cnn7-nobn", _cnn7(False), "Shi et al. 2021; SABR / CTBench, without BN",
                     "as cnn7 without BatchNorm"),
        Architecture("dm-small", _dm_small, _DM, "Conv16 4x4/2, Conv32 4x4/1, FC100, FC(out)"),
        Architecture("dm-medium", _dm_medium, _DM,
                     "Conv32 3x3, Conv32 4x4/2, Conv64 3x3, Conv64 4x4/2, FC512, FC512, FC(out)"),
        Architecture("dm-large", _dm_large, _DM,
                     "Conv64 3x3 p1, Conv64 3x3 p1, Conv128 3x3/2 p1, Conv128 3x3 p1, "
                     "Conv128 3x3 p1, FC512, FC(out)"),
        Architecture("cnn1", _cnn1(0), _CNN1,
                     "Conv32 3x3, Conv64 3x3, AvgPool2, Dropout .25, FC128, Dropout .5, FC(out)"),
        Architecture("cnn1-bn1", _cnn1(1), _CNN1, "cnn1 with BatchNorm after the first conv"),
        Architecture("cnn1-bn2", _cnn1(2), _CNN1, "cnn1 with BatchNorm after both convs"),
    ]
}

_MLP_RE = re.compile(r"^mlp-(\d+)x(\d+)$")
MLP_EXAMPLES = ("mlp-4x50", "mlp-6x100", "mlp-6x200")


def model_names() -> list[str]:
    """All zoo names (MLPs take any ``mlp-LxW``; three common ones are listed)."""
    return [*MLP_EXAMPLES, *ARCHITECTURES]


def get_architecture(name: str) -> Architecture:
    """Look up a zoo entry; ``mlp-LxW`` is L linear layers (L-1 hidden of width W)."""
    m = _MLP_RE.match(name)
    if m:
        layers, width = int(m.group(1)), int(m.group(2))
        if layers < 1 or width < 1:
            raise CertkitError(f"bad MLP size in {name!r}: need mlp-LxW with L, W >= 1")
        return Architecture(
            name, _mlp(layers, width), "ERAN / certification-ROC paper naming (L FC layers)",
            f"{layers - 1} hidden FC layers of {width} ReLUs, FC(out)",
        )
    if name not in ARCHITECTURES:
        raise choice_error("model", name, [*model_names(), "mlp-LxW"])
    return ARCHITECTURES[name]


def build_model(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """Build zoo model ``name`` for inputs of ``input_shape`` (C, H, W) and ``num_classes``.

    ``mean``/``std`` (one value per channel) become the leading :class:`Normalize` layer.
    """
    arch = get_architecture(name)
    channels = input_shape[0]
    mean = list(mean) if mean is not None else [0.0] * channels
    std = list(std) if std is not None else [1.0] * channels
    builder = _Builder(tuple(input_shape), mean, std)
    return arch.build(builder, num_classes).build()
