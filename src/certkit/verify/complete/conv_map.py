"""A convolution as the linear map of a chain layer, without its dense matrix.

A conv layer's dense matrix is mostly zeros (oval21's first layer: 6.3 million entries,
98 thousand of them non-zero). :class:`ConvMap` keeps the kernel: ``x -> W x`` is
``conv2d``, :meth:`Chain.module` rebuilds the ``Conv2d`` for the bound engine, and the
dense matrix is built only for the MILP, which needs every entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ConvMap:
    """The linear part of ``nn.Conv2d`` (zero padding, one group) on flat vectors."""

    weight: Tensor  # (C_out, C_in, kh, kw), float64
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    in_shape: tuple[int, int, int]  # (C_in, H, W)
    out_shape: tuple[int, int, int]  # (C_out, H', W')

    @staticmethod
    def of(conv: nn.Conv2d, in_shape: tuple[int, ...]) -> ConvMap | None:
        """The map of ``conv`` on inputs of shape ``in_shape`` (C, H, W), or None when it is
        not one this class covers (grouped, non-zero or string padding)."""
        if (conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str)
                or len(in_shape) != 3):
            return None
        c, h, w = (int(s) for s in in_shape)
        kh, kw = conv.kernel_size
        (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        weight = conv.weight.detach().to(torch.float64).clone()
        return ConvMap(weight, (sh, sw), (ph, pw), (dh, dw), (c, h, w),
                       (conv.out_channels, oh, ow))

    @property
    def n_in(self) -> int:
        c, h, w = self.in_shape
        return c * h * w

    @property
    def n_out(self) -> int:
        c, h, w = self.out_shape
        return c * h * w

    def _conv(self, x: Tensor, weight: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = F.conv2d(x.reshape(-1, *self.in_shape), weight, stride=self.stride,
                     padding=self.padding, dilation=self.dilation)
        return y.reshape(*lead, self.n_out)

    def apply(self, x: Tensor) -> Tensor:
        """``x W^T`` for rows ``x`` (..., n_in)."""
        return self._conv(x, self.weight)

    def dense(self) -> Tensor:
        """The matrix (n_out, n_in)."""
        eye = torch.eye(self.n_in, dtype=self.weight.dtype)
        return self.apply(eye).T.contiguous()
