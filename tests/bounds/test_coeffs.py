"""The sparse row representations (one-hot rows, convolution windows) agree with dense rows."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from certkit.bounds.coeffs import (
    Dense,
    OneHot,
    Patches,
    dot,
    take_rows,
    to_dense,
    window_mask,
    windows,
    windows_inside,
)
from certkit.bounds.relax import relu_relax
from certkit.bounds.rules import ConvOp, ReluOp

DT = torch.float64


def _conv(seed: int, cin: int, cout: int, k: int, stride: int, pad: int, dil: int,
          size: int) -> ConvOp:
    g = torch.Generator().manual_seed(seed)
    op = ConvOp(torch.randn(cout, cin, k, k, generator=g, dtype=DT),
                torch.randn(cout, generator=g, dtype=DT), (stride, stride), (pad, pad),
                (dil, dil), 1)
    x = torch.zeros(1, cin, size, size, dtype=DT)
    op.in_shapes, op.out_shape = ((cin, size, size),), tuple(op.forward(x).shape[1:])
    return op


def _onehot(shape: tuple[int, ...], b: int, r: int, seed: int) -> OneHot:
    g = torch.Generator().manual_seed(seed)
    n = 1
    for s in shape:
        n *= s
    return OneHot(torch.randint(0, n, (b, r), generator=g),
                  torch.randn(b, r, generator=g, dtype=DT), shape)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 1000), k=st.integers(1, 4), stride=st.integers(1, 3),
       pad=st.integers(0, 2), dil=st.integers(1, 2), size=st.integers(5, 9))
def test_conv_window_rows_equal_dense_rows(seed: int, k: int, stride: int, pad: int, dil: int,
                                           size: int) -> None:
    if dil * (k - 1) + 1 > size + 2 * pad:
        return
    first = _conv(seed, 2, 3, k, stride, pad, dil, size)
    second = _conv(seed + 1, 3, 2, 2, 1, 1, 1, first.out_shape[1])
    rows = _onehot(second.out_shape, 2, 5, seed)
    relax = relu_relax(*torch.randn(2, 2, *first.out_shape, dtype=DT).sort(0).values)
    relu = ReluOp()
    # sparse path: one-hot -> windows through conv, relu, conv
    (c1,), b1 = second.backward(rows)
    (c2,), b2 = relu.backward(c1, relax)
    (c3,), b3 = first.backward(c2)
    # dense path from the same rows
    (d1,), e1 = second.backward(Dense(to_dense(rows)))
    (d2,), e2 = relu.backward(d1, relax)
    (d3,), e3 = first.backward(d2)
    assert isinstance(c1, Patches | Dense)
    torch.testing.assert_close(to_dense(c3), to_dense(d3), rtol=0, atol=1e-12)
    for x, y in ((b1, e1), (b2, e2), (b3, e3)):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-12)
    t = torch.randn(2, *first.in_shapes[0], dtype=DT)
    torch.testing.assert_close(dot(c3, t), dot(d3, t), rtol=0, atol=1e-12)


def test_windows_cut_zero_padded_maps() -> None:
    op = _conv(0, 1, 1, 3, 2, 1, 1, 5)
    (p,), _ = op.backward(_onehot(op.out_shape, 1, 4, 0))
    assert isinstance(p, Patches)
    t = torch.arange(25, dtype=DT).view(1, 1, 5, 5) + 1
    w = windows(t, p)
    dense = to_dense(Patches(torch.ones_like(p.a), p.pos, p.grid, p.stride, p.offset, p.shape))
    # sum over each window of t equals the dense indicator of the window dotted with t
    torch.testing.assert_close(w.sum(dim=(2, 3, 4)), (dense * t.unsqueeze(1)).sum(dim=(2, 3, 4)))


@pytest.mark.parametrize("kind", ["dense", "onehot", "patches"])
def test_take_rows_picks_per_sample_rows(kind: str) -> None:
    op = _conv(3, 1, 2, 3, 1, 1, 1, 4)
    rows = _onehot(op.out_shape, 3, 6, 1)
    c = {"onehot": rows, "dense": Dense(to_dense(rows)),
         "patches": op.backward(rows)[0][0]}[kind]
    index = torch.tensor([[5, 0], [2, 2], [1, 4]])
    picked = to_dense(take_rows(c, index))
    full = to_dense(c)
    for b in range(3):
        torch.testing.assert_close(picked[b], full[b, index[b]])


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(k=st.integers(1, 5), stride=st.integers(1, 3), pad=st.integers(0, 2),
       size=st.integers(5, 12))
def test_windows_inside_is_the_all_ones_mask_of_the_full_grid(k: int, stride: int, pad: int,
                                                               size: int) -> None:
    if k > size + 2 * pad:
        return
    op = _conv(0, 1, 1, k, stride, pad, 1, size)
    oh, ow = op.out_shape[1:]
    rows = OneHot(torch.arange(oh * ow).unsqueeze(0), torch.ones(1, oh * ow, dtype=DT),
                  op.out_shape)
    (p,), _ = op.backward(rows)
    if isinstance(p, Dense):
        return
    full = Patches(torch.ones_like(p.a), p.pos, p.grid, p.stride, p.offset, p.shape)
    assert windows_inside(full) == bool((window_mask(full, DT) == 1).all())


def test_grouped_conv_one_hot_rows_equal_dense_rows() -> None:
    g = torch.Generator().manual_seed(2)
    op = ConvOp(torch.randn(4, 1, 3, 3, generator=g, dtype=DT), torch.randn(4, generator=g,
                dtype=DT), (1, 1), (0, 0), (1, 1), 2)
    op.in_shapes, op.out_shape = ((2, 6, 6),), (4, 4, 4)
    rows = _onehot(op.out_shape, 2, 5, 3)
    (c,), b = op.backward(rows)
    (d,), e = op.backward(Dense(to_dense(rows)))
    torch.testing.assert_close(to_dense(c), to_dense(d), rtol=0, atol=1e-12)
    torch.testing.assert_close(b, e, rtol=0, atol=1e-12)
