"""Back-substitution: push bound rows from a node back to the input and concretise them.

All rows of a pass (lower and upper bounds of many neurons or specification rows, for every
sample) travel together; only lower bounds are computed, an upper bound of ``c . z`` being
minus the lower bound of ``-c . z``. Rows are split into chunks when the dense coefficients
would exceed the memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .coeffs import Coeffs, OneHot, add, select_rows
from .domain import InputDomain
from .graph import Graph
from .relax import Relax


@dataclass
class Context:
    """What a backward pass needs: the graph, the input set and the ReLU relaxations."""

    graph: Graph
    domain: InputDomain
    relax: dict[int, Relax]

    def take(self, index: Tensor) -> Context:
        """The context of some of the samples."""
        return Context(self.graph.take(index), self.domain.take(index),
                       {i: r.take(index) for i, r in self.relax.items()})


def backsubstitute_to(ctx: Context, start: int, c: Coeffs, stop: int,
                      record: dict[int, Coeffs] | None = None) -> tuple[Coeffs, Tensor | None]:
    """Push rows from node ``start`` down to node ``stop``: rows over ``stop`` and a constant.

    Every path from ``start`` to the input must pass through ``stop`` (always true for
    ``stop = 0``; for other nodes the caller checks the graph is a chain there).
    ``record``: the rows over every node whose index is a key are stored there.
    """
    pending: dict[int, Coeffs] = {start: c}
    total: Tensor | None = None
    for i in range(start, stop, -1):
        ci = pending.pop(i, None)
        if ci is None:
            continue
        if record is not None and i in record:
            record[i] = ci
        node = ctx.graph.nodes[i]
        assert node.op is not None
        ins, bias = node.op.backward(ci, ctx.relax.get(i))
        if bias is not None:
            total = bias if total is None else total + bias
        for j, cj in zip(node.inputs, ins, strict=True):
            pending[j] = add(pending[j], cj) if j in pending else cj
    if set(pending) != {stop}:
        raise AssertionError("back-substitution did not converge on the stop node")
    return pending[stop], total


def backsubstitute(ctx: Context, start: int, c: Coeffs) -> Tensor:
    """Lower bound of every row ``c`` (over node ``start``) on the input set: (B, R)."""
    return backsubstitute_rows(ctx, start, c)[0]


def backsubstitute_rows(ctx: Context, start: int, c: Coeffs,
                        record: dict[int, Coeffs] | None = None) -> tuple[Tensor, Coeffs]:
    """:func:`backsubstitute`, with the rows over the input too (and over ``record``'s
    nodes, as :func:`backsubstitute_to` stores them)."""
    rows, total = backsubstitute_to(ctx, start, c, 0, record)
    lb = ctx.domain.lower_bound(rows)
    return (lb if total is None else lb + total), rows


def row_width(graph: Graph, start: int, c: Coeffs) -> int:
    """Most coefficient entries one row can hold between ``start`` and the input.

    One-hot rows stay small through elementwise layers and become convolution windows
    (growing by the receptive field) before they become dense.
    """
    dense = max(n.numel for n in graph.nodes[: start + 1])
    if not isinstance(c, OneHot) or any(len(n.inputs) > 1 for n in graph.nodes[1 : start + 1]):
        return dense
    width, window = 1, (1, 1)
    for node in reversed(graph.nodes[1 : start + 1]):
        assert node.op is not None
        grown = node.op.grow_window(window)
        if grown is not None:  # a convolution: rows are windows of its input
            window = grown
            cin, h, w = node.op.in_shapes[0]
            if window[0] * window[1] >= h * w:
                return dense
            width = max(width, cin * window[0] * window[1])
        elif not node.op.elementwise:
            return dense
    return width


def backsubstitute_chunked(ctx: Context, start: int, c: Coeffs, budget: int) -> Tensor:
    """:func:`backsubstitute` in row chunks of at most ``budget`` coefficient entries."""
    rows = c.rows
    width = row_width(ctx.graph, start, c)
    step = max(1, budget // max(1, ctx.domain.batch_size * width))
    if step >= rows:
        return backsubstitute(ctx, start, c)
    parts = [backsubstitute(ctx, start, select_rows(c, r, min(rows, r + step)))
             for r in range(0, rows, step)]
    return torch.cat(parts, dim=1)
