"""Forward symbolic intervals: linear lower/upper bounds in the input variables.

For a node ``z`` of shape ``(B, *shape)`` and an engine input ``x`` with ``n_in`` entries,
``Forms`` holds ``wl, wu`` of shape ``(B, n_in, *shape)`` and ``bl, bu`` of shape
``(B, *shape)`` with ``wl^T x + bl <= z(x) <= wu^T x + bu`` for every ``x`` in the input set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Forms:
    """Lower and upper linear forms of one node (``exact`` when they coincide)."""

    wl: Tensor
    bl: Tensor
    wu: Tensor
    bu: Tensor

    @property
    def exact(self) -> bool:
        return self.wl is self.wu and self.bl is self.bu

    @classmethod
    def identity(cls, x: Tensor) -> Forms:
        """The input node itself: ``z = x``."""
        b = x.shape[0]
        n = x[0].numel()
        w = torch.eye(n, dtype=x.dtype, device=x.device).expand(b, n, n).reshape(b, n, *x.shape[1:])
        zero = torch.zeros_like(x)
        return cls(w, zero, w, zero)

    def map(self, fn: Callable[[Tensor], Tensor]) -> Forms:
        """Apply the same shape-only map (reshape) to weights and offsets."""
        if self.exact:
            w, b = fn(self.wl), fn(self.bl)
            return Forms(w, b, w, b)
        return Forms(fn(self.wl), fn(self.bl), fn(self.wu), fn(self.bu))


def affine_forms(f: Forms, lin: Callable[[Tensor], Tensor], abs_lin: Callable[[Tensor], Tensor],
                 bias: Tensor | None) -> Forms:
    """Forms of ``W z + bias`` for a linear map ``W`` given by ``lin`` (and ``|W|`` by ``abs_lin``).

    ``lin``/``abs_lin`` map a batch ``(N, *in_shape)`` to ``(N, *out_shape)``. The lower form
    is ``W+ wl + W- wu = W m - |W| d`` with ``m = (wl + wu) / 2`` and ``d = (wu - wl) / 2``.
    """
    b, n = f.wl.shape[:2]

    def on_w(fn: Callable[[Tensor], Tensor], w: Tensor) -> Tensor:
        out = fn(w.reshape(b * n, *w.shape[2:]))
        return out.reshape(b, n, *out.shape[1:])

    def add_bias(t: Tensor) -> Tensor:
        return t if bias is None else t + bias

    if f.exact:
        w = on_w(lin, f.wl)
        off = add_bias(lin(f.bl))
        return Forms(w, off, w, off)
    wm, wd = on_w(lin, (f.wl + f.wu) / 2), on_w(abs_lin, (f.wu - f.wl) / 2)
    bm, bd = add_bias(lin((f.bl + f.bu) / 2)), abs_lin((f.bu - f.bl) / 2)
    return Forms(wm - wd, bm - bd, wm + wd, bm + bd)
