"""Coefficient rows of backward (CROWN) linear bounds, in three shapes.

A backward pass carries, for every sample ``b`` and every bound row ``r``, a linear function
``sum_k A[b, r, k] * z[b, k]`` of some node ``z`` of shape ``(B, *shape)``. Three
representations keep this cheap:

* :class:`Dense` -- the full ``(B, R, *shape)`` tensor;
* :class:`OneHot` -- one nonzero per row (a neuron index and a value): the rows that start a
  back-substitution for an intermediate neuron, kept sparse through elementwise layers;
* :class:`Patches` -- rows that are nonzero only on a spatial window of a ``(C, H, W)`` node:
  one-hot rows become a kernel-sized window at the first convolution and the window grows
  by the receptive field at every further convolution (never the dense map).

Invariant for :class:`Patches`: window entries outside the node's ``H x W`` map are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Dense:
    """Full coefficients ``a`` of shape ``(B, R, *shape)``."""

    a: Tensor

    @property
    def rows(self) -> int:
        return self.a.shape[1]


@dataclass
class OneHot:
    """Rows with one nonzero: ``val[b, r]`` at flat neuron ``idx[b, r]`` of a node."""

    idx: Tensor  # (B, R) int64
    val: Tensor  # (B, R)
    shape: tuple[int, ...]

    @property
    def rows(self) -> int:
        return self.idx.shape[1]


@dataclass
class Patches:
    """Rows nonzero on a ``(C, ph, pw)`` window of a ``(C, H, W)`` node.

    Every row started at a position of a *start grid* (``grid`` = (Hs, Ws), flat index
    ``pos``); the window of the row at grid position ``(i, j)`` has its top-left corner at
    ``(i * stride[0] - offset[0], j * stride[1] - offset[1])`` of the node, so the windows
    of all rows are exactly the windows ``unfold`` cuts from the node padded by ``offset``.
    """

    a: Tensor  # (B, R, C, ph, pw)
    pos: Tensor  # (B, R) int64, flat index into the start grid
    grid: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]
    shape: tuple[int, int, int]  # (C, H, W) of the node

    @property
    def rows(self) -> int:
        return self.a.shape[1]

    def like(self, a: Tensor) -> Patches:
        """The same geometry with other window contents."""
        return Patches(a, self.pos, self.grid, self.stride, self.offset, self.shape)

    def anchors(self) -> tuple[Tensor, Tensor]:
        """Top-left corners (y0, x0) of every row's window, (B, R) each."""
        i = torch.div(self.pos, self.grid[1], rounding_mode="floor")
        j = self.pos - i * self.grid[1]
        return i * self.stride[0] - self.offset[0], j * self.stride[1] - self.offset[1]


Coeffs = Dense | OneHot | Patches


def _pads(p: Patches, h: int, w: int) -> tuple[int, int, int, int]:
    """Padding (left, right, top, bottom) of an ``h x w`` map so every window fits."""
    ph, pw = p.a.shape[-2:]
    (sy, sx), (oy, ox), (hs, ws) = p.stride, p.offset, p.grid
    return ox, max(0, (ws - 1) * sx + pw - (w + ox)), oy, max(0, (hs - 1) * sy + ph - (h + oy))


def _unfold(t: Tensor, p: Patches) -> Tensor:
    """All grid windows of ``t`` (N, C, H, W): (N, L, C * ph * pw), row i * Wu + j."""
    pads = _pads(p, t.shape[-2], t.shape[-1])
    tp = F.pad(t, pads) if any(pads) else t
    return F.unfold(tp, tuple(p.a.shape[-2:]), stride=p.stride).transpose(1, 2)


def _grid_index(p: Patches, h: int, w: int) -> Tensor:
    """``pos`` translated to the rows of :func:`_unfold`'s output."""
    left, right, _, _ = _pads(p, h, w)
    wu = (w + left + right - p.a.shape[-1]) // p.stride[1] + 1
    i = torch.div(p.pos, p.grid[1], rounding_mode="floor")
    return i * wu + (p.pos - i * p.grid[1])


def _flat_rows(index: Tensor, per_sample: int) -> Tensor:
    """Row ``index[b, k]`` of sample ``b`` as a row of the (B * per_sample)-row flattening."""
    base = torch.arange(index.shape[0], device=index.device).unsqueeze(1) * per_sample
    return (base + index).reshape(-1)


def windows(t: Tensor, p: Patches) -> Tensor:
    """The windows of ``p`` cut from a per-neuron tensor ``t`` (B, C, H, W), zero outside."""
    cols = _unfold(t, p)  # (B, L, C*ph*pw)
    b, n = cols.shape[:2]
    rows = _flat_rows(_grid_index(p, t.shape[-2], t.shape[-1]), n)
    out = cols.reshape(b * n, -1).index_select(0, rows)
    return out.view(p.a.shape[0], p.a.shape[1], t.shape[1], *p.a.shape[-2:])


def tiled(p: Patches) -> int:
    """``n`` (the start grid's size) when row ``r`` of every sample starts at position
    ``r % n`` -- the rows of every neuron of a map, in order -- else 0.

    Rows of one position share their windows of any per-neuron tensor, so those are cut
    once per position (:func:`grid_windows`) and broadcast over the rows.
    """
    n = p.grid[0] * p.grid[1]
    r = p.pos.shape[1]
    if r % n:
        return 0
    ref = torch.arange(n, device=p.pos.device).repeat(r // n)
    return n if bool((p.pos == ref).all()) else 0


def grid_windows(t: Tensor, p: Patches, n: int) -> Tensor:
    """For :func:`tiled` rows: the windows of ``t`` at the ``n`` positions, (B, 1, n, ...)."""
    first = Patches(p.a[:, :n], p.pos[:, :n], p.grid, p.stride, p.offset, p.shape)
    return windows(t, first).unsqueeze(1)


def by_position(p: Patches, n: int) -> Tensor:
    """The window contents of :func:`tiled` rows as (B, R / n, n, C, ph, pw)."""
    return p.a.view(p.a.shape[0], -1, n, *p.a.shape[2:])


def windows_inside(p: Patches) -> bool:
    """Whether every window of the start grid lies inside the map (then no mask is needed)."""
    _, h, w = p.shape
    (sy, sx), (oy, ox), (hs, ws) = p.stride, p.offset, p.grid
    ph, pw = p.a.shape[-2:]
    return oy <= 0 and ox <= 0 and (hs - 1) * sy - oy + ph <= h and (ws - 1) * sx - ox + pw <= w


def window_mask(p: Patches, dtype: torch.dtype) -> Tensor:
    """1 where a window entry lies inside the map, 0 outside: (B, R, 1, ph, pw)."""
    _, h, w = p.shape
    ones = torch.ones(1, 1, h, w, dtype=dtype, device=p.a.device)
    cols = _unfold(ones, p)[0]  # (L, ph*pw)
    n = tiled(p)
    if n:  # one mask per position, repeated over the rows
        first = cols[_grid_index(p, h, w)[:1, :n]].view(1, 1, n, *p.a.shape[-2:])
        return first.expand(p.a.shape[0], p.a.shape[1] // n, -1, -1, -1).reshape(
            p.a.shape[0], p.a.shape[1], 1, *p.a.shape[-2:])
    return cols[_grid_index(p, h, w)].view(p.a.shape[0], p.a.shape[1], 1, *p.a.shape[-2:])


def to_dense(c: Coeffs) -> Tensor:
    """The full ``(B, R, *shape)`` coefficient tensor of any representation."""
    if isinstance(c, Dense):
        return c.a
    if isinstance(c, OneHot):
        b, r = c.idx.shape
        n = 1
        for s in c.shape:
            n *= s
        out = c.val.new_zeros(b, r, n).scatter(2, c.idx.unsqueeze(-1), c.val.unsqueeze(-1))
        return out.view(b, r, *c.shape)
    ch, h, w = c.shape
    b, r, _, ph, pw = c.a.shape
    y0, x0 = c.anchors()
    top, left = max(0, -int(y0.min())), max(0, -int(x0.min()))
    bottom, right = max(0, int(y0.max()) + ph - h), max(0, int(x0.max()) + pw - w)
    canvas = c.a.new_zeros(b, r, ch, h + top + bottom, w + left + right)
    dev = c.a.device
    ys = (y0 + top)[:, :, None, None, None] + torch.arange(ph, device=dev).view(1, 1, 1, ph, 1)
    xs = (x0 + left)[:, :, None, None, None] + torch.arange(pw, device=dev).view(1, 1, 1, 1, pw)
    bi = torch.arange(b, device=dev).view(b, 1, 1, 1, 1)
    ri = torch.arange(r, device=dev).view(1, r, 1, 1, 1)
    ci = torch.arange(ch, device=dev).view(1, 1, ch, 1, 1)
    canvas = canvas.index_put((bi, ri, ci, ys, xs), c.a)
    return canvas[:, :, :, top:top + h, left:left + w]


def gather(t: Tensor, c: OneHot) -> Tensor:
    """Values of a per-neuron tensor ``t`` (B, *shape) at the rows' neurons: (B, R)."""
    return t.reshape(t.shape[0], -1).gather(1, c.idx)


def _channels_last(a: Tensor) -> bool:
    """Whether dense rows (B, R, C, H, W) are laid out channels-last within each row."""
    return a.dim() == 5 and not a.is_contiguous() and a.permute(0, 1, 3, 4, 2).is_contiguous()


def dot(c: Coeffs, t: Tensor) -> Tensor:
    """``sum_k A[b, r, k] * t[b, k]`` for a per-neuron tensor ``t`` (B, *shape): (B, R)."""
    if isinstance(c, Dense):
        a = c.a
        if _channels_last(a):  # rows straight from a transposed convolution: no copy
            a, t = a.permute(0, 1, 3, 4, 2), t.permute(0, 2, 3, 1)
        a = a.flatten(2)
        return torch.bmm(a, t.reshape(t.shape[0], -1, 1).expand(a.shape[0], -1, 1)).squeeze(-1)
    if isinstance(c, OneHot):
        return c.val * gather(t, c)
    n = tiled(c)
    if n:
        prod = by_position(c, n) * grid_windows(t, c, n)
        return prod.sum(dim=(3, 4, 5)).view(c.pos.shape)
    return (c.a * windows(t, c)).sum(dim=(2, 3, 4))


def negative_part(c: Coeffs) -> Coeffs:
    """The elementwise ``min(A, 0)`` in the same representation."""
    if isinstance(c, Dense):
        return Dense(c.a.clamp(max=0))
    if isinstance(c, OneHot):
        return OneHot(c.idx, c.val.clamp(max=0), c.shape)
    return c.like(c.a.clamp(max=0))


def l2_norm(c: Coeffs) -> Tensor:
    """Euclidean norm of every row: (B, R)."""
    if isinstance(c, Dense):
        return c.a.flatten(2).norm(dim=2)
    if isinstance(c, OneHot):
        return c.val.abs()
    return c.a.flatten(2).norm(dim=2)


def add(c1: Coeffs, c2: Coeffs) -> Coeffs:
    """Sum of two coefficient sets of the same node (dense unless both are dense already)."""
    return Dense(to_dense(c1) + to_dense(c2))


def select_rows(c: Coeffs, start: int, stop: int) -> Coeffs:
    """Rows ``start:stop`` of ``c``."""
    if isinstance(c, Dense):
        return Dense(c.a[:, start:stop])
    if isinstance(c, OneHot):
        return OneHot(c.idx[:, start:stop], c.val[:, start:stop], c.shape)
    return Patches(c.a[:, start:stop], c.pos[:, start:stop], c.grid, c.stride, c.offset, c.shape)


def take_rows(c: Coeffs, index: Tensor) -> Coeffs:
    """Rows ``index[b, k]`` of every sample ``b`` (index of shape (B, K))."""
    b, k = index.shape

    def pick(t: Tensor) -> Tensor:
        flat = t.reshape(b * t.shape[1], *t.shape[2:])
        return flat.index_select(0, _flat_rows(index, t.shape[1])).view(b, k, *t.shape[2:])

    if isinstance(c, Dense):
        return Dense(pick(c.a))
    if isinstance(c, OneHot):
        return OneHot(pick(c.idx), pick(c.val), c.shape)
    return Patches(pick(c.a), pick(c.pos), c.grid, c.stride, c.offset, c.shape)


def scale(c: Coeffs, s: Tensor, per_channel: bool) -> Coeffs:
    """Multiply the coefficient of every neuron by ``s``.

    ``s`` broadcasts against ``(B, *shape)``; ``per_channel`` says it is constant over the
    spatial positions of an image node (then patch windows need no gather).
    """
    if isinstance(c, Dense):
        return Dense(c.a * s.unsqueeze(1) if s.dim() == c.a.dim() - 1 else c.a * s)
    full_shape = (c.val.shape[0] if isinstance(c, OneHot) else c.a.shape[0], *c.shape)
    if isinstance(c, OneHot):
        return OneHot(c.idx, c.val * gather(s.expand(full_shape), c), c.shape)
    if per_channel and s.dim() <= 3:
        sc = s.expand(c.shape[0], 1, 1) if s.dim() < 3 else s
        return c.like(c.a * sc.reshape(1, 1, c.shape[0], 1, 1))
    return c.like(c.a * windows(s.expand(full_shape), c))


def weighted_sum(c: Coeffs, s: Tensor, per_channel: bool) -> Tensor:
    """``sum_k A[b, r, k] * s[k]`` for ``s`` broadcasting against ``(B, *shape)``: (B, R)."""
    if isinstance(c, Patches) and per_channel and s.dim() <= 3:
        sc = s.expand(c.shape[0], 1, 1) if s.dim() < 3 else s
        return (c.a.sum(dim=(3, 4)) * sc.reshape(1, 1, -1)).sum(dim=2)
    b = c.a.shape[0] if not isinstance(c, OneHot) else c.val.shape[0]
    shape = c.a.shape[2:] if isinstance(c, Dense) else c.shape
    return dot(c, s.expand(b, *shape))
