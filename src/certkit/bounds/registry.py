"""The rule registry: layer types -> primitive ops, each op with its three rule sets.

A supported ``nn.Module`` type is *lowered* into a short chain of primitive :class:`Op`
objects (``Normalize`` and ``BatchNorm`` become an elementwise affine op, ``AvgPool2d`` a
depthwise convolution, ``Clip`` two ReLUs between elementwise affine ops, ``Dropout`` and
``Identity`` nothing). Every op implements

* ``interval`` -- interval (IBP / Box) propagation,
* ``forward_linear`` -- forward symbolic intervals (SSIP),
* ``backward`` -- backward linear bounds (CROWN / DeepPoly back-substitution).

Lookups are by exact type: a subclass with its own ``forward`` is not silently treated as
its parent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from torch import Tensor, nn

from .coeffs import Coeffs
from .forms import Forms
from .relax import Relax

Interval = tuple[Tensor, Tensor]
Lowering = Callable[[nn.Module, Tensor], list["Op"]]


class Op(ABC):
    """A primitive operation of a bound graph.

    ``elementwise`` ops map a box to a box (interval bounds stay exact); the others mix
    neurons. ``in_shapes``/``out_shape`` (per sample) are set when the graph is built.
    """

    kind: ClassVar[str] = "op"
    elementwise: ClassVar[bool] = False
    in_shapes: tuple[tuple[int, ...], ...] = ()
    out_shape: tuple[int, ...] = ()

    @abstractmethod
    def forward(self, *xs: Tensor) -> Tensor:
        """The concrete operation."""

    @abstractmethod
    def interval(self, *bounds: Interval) -> Interval:
        """Elementwise output bounds from elementwise input bounds."""

    @abstractmethod
    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        """Linear forms of the output from linear forms of the inputs."""

    @abstractmethod
    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        """Rewrite rows over the output as rows over each input, plus a constant (B, R)."""

    def grow_window(self, window: tuple[int, int]) -> tuple[int, int] | None:
        """For convolutions: the input window an output window of this size depends on."""
        return None

    def take(self, rows: slice | Tensor) -> Op:
        """The op restricted to some samples (ops with per-sample data override this)."""
        return self

    def describe(self) -> str:
        """Short text for error messages and debugging."""
        return self.kind


_LOWERINGS: dict[type[nn.Module], Lowering] = {}


def register_layer(*types: type[nn.Module]) -> Callable[[Lowering], Lowering]:
    """Decorator: ``fn(module, clean_input) -> [ops]`` lowers modules of exactly ``types``."""

    def deco(fn: Lowering) -> Lowering:
        for t in types:
            _LOWERINGS[t] = fn
        return fn

    return deco


def lowering_for(module: nn.Module) -> Lowering | None:
    """The lowering of ``module``'s exact type, or None when it is unsupported."""
    return _LOWERINGS.get(type(module))


def supported_layers() -> list[str]:
    """Names of the supported layer types (for docs and error messages)."""
    return sorted({t.__name__ for t in _LOWERINGS})
