"""``nn.Conv2d`` and ``nn.AvgPool2d`` (a depthwise convolution with constant weights).

Backward rows go through ``conv_transpose2d`` (the adjoint of the convolution): dense rows
on the whole map, or, for rows that started at an intermediate neuron, only on the window
the neuron depends on (:class:`~certkit.bounds.coeffs.Patches`).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import CertkitError
from ...models.kernels import conv_transpose2d
from ..coeffs import Coeffs, Dense, OneHot, Patches, to_dense, window_mask, windows_inside
from ..forms import Forms, affine_forms
from ..registry import Interval, Op, register_layer
from ..relax import Relax

Pair = tuple[int, int]
_PATCH_MATRIX_MAX = 1 << 22  # entries of a window's transposed-convolution matrix
_Store = dict[tuple[object, ...], tuple[Tensor, tuple[int, ...]]]
_PATCH_MATRICES: dict[int, tuple[weakref.ref[Tensor], _Store]] = {}


def _matrix_store(w: Tensor) -> _Store:
    """The patch matrices kept for weight tensor ``w`` (dropped when ``w`` is freed)."""
    entry = _PATCH_MATRICES.get(id(w))
    if entry is None or entry[0]() is not w:
        entry = (weakref.ref(w), {})
        _PATCH_MATRICES[id(w)] = entry
        weakref.finalize(w, _PATCH_MATRICES.pop, id(w), None)
    return entry[1]


class ConvOp(Op):
    """2-D convolution with zero padding (any stride, dilation and groups)."""

    kind = "conv2d"

    def __init__(self, weight: Tensor, bias: Tensor | None, stride: Pair, padding: Pair,
                 dilation: Pair, groups: int) -> None:
        self.weight, self.bias = weight, bias
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def _conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, *xs: Tensor) -> Tensor:
        return self._conv(xs[0], self.weight, self.bias)

    def interval(self, *bounds: Interval) -> Interval:
        lo, hi = bounds[0]
        mid = self._conv((lo + hi) / 2, self.weight, self.bias)
        rad = self._conv((hi - lo) / 2, self.weight.abs(), None)
        return mid - rad, mid + rad

    def forward_linear(self, *forms: Forms, relax: Relax | None = None) -> Forms:
        w, aw = self.weight, self.weight.abs()
        bias = None if self.bias is None else self.bias.view(-1, 1, 1)
        return affine_forms(forms[0], lambda t: self._conv(t, w, None),
                            lambda t: self._conv(t, aw, None), bias)

    def _bias_term(self, a_sum: Tensor) -> Tensor | None:
        """Constant of rows whose per-channel coefficient sums are ``a_sum`` (B, R, C_out)."""
        return None if self.bias is None else torch.matmul(a_sum, self.bias)

    def backward(self, c: Coeffs, relax: Relax | None = None) -> tuple[list[Coeffs],
                                                                        Tensor | None]:
        if isinstance(c, OneHot):
            return self._backward_onehot(c)
        if isinstance(c, Patches):
            return self._backward_patches(c)
        a = to_dense(c)
        b, r = a.shape[:2]
        cin, hin, win = self.in_shapes[0]
        kh, kw = self.weight.shape[-2:]
        out_pad = []
        for i, (size_in, k) in enumerate(((hin, kh), (win, kw))):
            full = ((a.shape[3 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                    + self.dilation[i] * (k - 1) + 1)
            out_pad.append(size_in - full)
        x = self._transpose(a.reshape(b * r, *a.shape[2:]), self.padding,
                            (out_pad[0], out_pad[1]))
        return [Dense(x.view(b, r, cin, hin, win))], self._bias_term(a.sum(dim=(3, 4)))

    def _transpose(self, x: Tensor, padding: Pair, out_pad: Pair) -> Tensor:
        """``conv_transpose2d`` with the memory layout that is fastest on CPU for its shape."""
        return conv_transpose2d(x, self.weight, self.stride, padding, out_pad, self.groups,
                                self.dilation)

    def _patch_matrix(self, cout: int, ph: int, pw: int) -> tuple[Tensor, tuple[int, ...]]:
        """The transposed convolution of a (C_out, ph, pw) window as a dense matrix.

        Without gradients the matrix is kept per weight tensor (and its version counter), so
        repeated bound calls on a frozen model build it once.
        """
        w = self.weight
        frozen = not (torch.is_grad_enabled() and w.requires_grad)
        key = (w._version, w.dtype, w.device, cout, ph, pw, self.stride, self.groups,
               self.dilation)
        store = _matrix_store(w) if frozen else {}
        if key not in store:
            k = cout * ph * pw
            eye = torch.eye(k, dtype=w.dtype, device=w.device)
            out = F.conv_transpose2d(eye.view(k, cout, ph, pw), w, None, self.stride, 0, 0,
                                     self.groups, self.dilation)
            store.clear()  # only the newest version of a weight is kept
            store[key] = (out.reshape(k, -1), tuple(out.shape[1:]))
        return store[key]

    def _backward_onehot(self, c: OneHot) -> tuple[list[Coeffs], Tensor | None]:
        """One-hot rows of the output: each becomes its channel's kernel, scaled, as a window."""
        if len(c.shape) != 3:
            raise CertkitError(f"a convolution output must have shape (C, H, W), got {c.shape}")
        ch, h, w = c.shape
        if self.groups != 1 or self.dilation != (1, 1):
            return self._backward_patches(_onehot_to_patches(c))
        chan = torch.div(c.idx, h * w, rounding_mode="floor")
        b, r = c.idx.shape
        kernels = self.weight.reshape(ch, -1).index_select(0, chan.reshape(-1))
        a = (kernels.view(b, r, -1) * c.val.unsqueeze(-1)).view(b, r, *self.weight.shape[1:])
        out = Patches(a, c.idx - chan * (h * w), (h, w), self.stride, self.padding,
                      self.in_shapes[0])
        return [_finish(out)], None if self.bias is None else c.val * self.bias[chan]

    def _backward_patches(self, p: Patches) -> tuple[list[Coeffs], Tensor | None]:
        b, r, cout, ph, pw = p.a.shape
        oh, ow = self.grow_window((ph, pw)) or (ph, pw)
        cin, hin, win = self.in_shapes[0]
        if (cout * ph * pw) * (cin * oh * ow) <= _PATCH_MATRIX_MAX:
            mat, shape = self._patch_matrix(cout, ph, pw)
            x = torch.matmul(p.a.reshape(b, r, -1), mat).view(b, r, *shape)
        else:
            x = self._transpose(p.a.reshape(b * r, cout, ph, pw), (0, 0), (0, 0))
            x = x.view(b, r, *x.shape[1:])
        stride = (p.stride[0] * self.stride[0], p.stride[1] * self.stride[1])
        offset = (p.offset[0] * self.stride[0] + self.padding[0],
                  p.offset[1] * self.stride[1] + self.padding[1])
        out = Patches(x, p.pos, p.grid, stride, offset, (cin, hin, win))
        return [_finish(out)], self._bias_term(p.a.sum(dim=(3, 4)))

    def grow_window(self, window: tuple[int, int]) -> tuple[int, int] | None:
        kh, kw = self.weight.shape[-2:]
        return ((window[0] - 1) * self.stride[0] + self.dilation[0] * (kh - 1) + 1,
                (window[1] - 1) * self.stride[1] + self.dilation[1] * (kw - 1) + 1)

    def describe(self) -> str:
        return f"conv2d {self.weight.shape[1] * self.groups}->{self.weight.shape[0]}"


def _finish(out: Patches) -> Coeffs:
    """Windows zeroed outside the map (if any reach out), dense once they cover the map."""
    if not windows_inside(out):
        out = out.like(out.a * window_mask(out, out.a.dtype))
    _, h, w = out.shape
    if out.a.shape[-2] * out.a.shape[-1] >= h * w:  # the window covers the map: go dense
        return Dense(to_dense(out))
    return out


def _onehot_to_patches(c: OneHot) -> Patches:
    """One-hot rows of a (C, H, W) node as 1x1 windows."""
    if len(c.shape) != 3:
        raise CertkitError(f"a convolution output must have shape (C, H, W), got {c.shape}")
    ch, h, w = c.shape
    chan = torch.div(c.idx, h * w, rounding_mode="floor")
    pos = c.idx - chan * (h * w)
    b, r = c.idx.shape
    a = c.val.new_zeros(b, r, ch).scatter(2, chan.unsqueeze(-1), c.val.unsqueeze(-1))
    return Patches(a.view(b, r, ch, 1, 1), pos, (h, w), (1, 1), (0, 0), (ch, h, w))


def _pair(v: int | tuple[int, ...]) -> Pair:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@register_layer(nn.Conv2d)
def _lower_conv(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, nn.Conv2d)
    if x.dim() != 4:
        raise CertkitError(f"Conv2d needs batched image inputs (B, C, H, W), got {tuple(x.shape)}")
    if module.padding_mode != "zeros":
        raise CertkitError(f"Conv2d with padding_mode={module.padding_mode!r} is not supported "
                           "(only zero padding)")
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        else:  # "same": symmetric only
            total = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True)]
            if any(t % 2 for t in total):
                raise CertkitError("Conv2d padding='same' with an even kernel (asymmetric "
                                   "padding) is not supported")
            padding = (total[0] // 2, total[1] // 2)
    return [ConvOp(module.weight, module.bias, _pair(module.stride), _pair(padding),
                   _pair(module.dilation), module.groups)]


@register_layer(nn.AvgPool2d)
def _lower_avgpool(module: nn.Module, x: Tensor) -> list[Op]:
    assert isinstance(module, nn.AvgPool2d)
    if x.dim() != 4:
        raise CertkitError(f"AvgPool2d needs batched image inputs, got {tuple(x.shape)}")
    kh, kw = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    padding = _pair(module.padding)
    if any(padding) and not module.count_include_pad:
        raise CertkitError("AvgPool2d with padding and count_include_pad=False is not supported")
    div = module.divisor_override or kh * kw
    ch = x.shape[1]
    weight = torch.full((ch, 1, kh, kw), 1.0 / div, dtype=x.dtype, device=x.device)
    op = ConvOp(weight, None, stride, padding, (1, 1), ch)
    if op.forward(x).shape != module(x).shape:
        raise CertkitError("AvgPool2d with ceil_mode=True that adds partial windows is not "
                           "supported")
    return [op]
