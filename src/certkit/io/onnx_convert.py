"""The ONNX -> torch translation: values, layouts and the emitted layers.

Every ONNX value is either a constant (a numpy array, folded at import time) or a variable
that depends on the network input. A variable keeps its ONNX shape (of one sample, the
leading batch dimension of 1 included when the graph has one) and the per-sample shape of
the torch tensor that holds it; both list the same numbers in the same row-major order, so
``Flatten`` / ``Reshape`` / ``Squeeze`` / ``Unsqueeze`` only change the ONNX shape, and a
torch reshape is emitted only where a layer needs a layout (flat for ``Linear``, C x H x W
for ``Conv``). The imported module maps flat inputs (B, n_in) to flat outputs (B, n_out),
the row-major order in which VNN-LIB numbers ``X_i`` and ``Y_j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper
from torch import nn

from ..errors import CertkitError
from .onnx_modules import ConstAffine, GraphNet, merge_pair

Value = Any  # Var | np.ndarray | None (absent optional input)


@dataclass(frozen=True)
class Var:
    """A value that depends on the input: node index, ONNX shape, torch per-sample shape."""

    node: int
    shape: tuple[int, ...]
    tshape: tuple[int, ...]


class Converter:
    """Accumulates the layers of the imported module while walking the ONNX nodes."""

    def __init__(self, opset: int, n_inputs: int, shape: tuple[int, ...]) -> None:
        self.opset = opset
        self.layers: list[nn.Module] = []
        self.plan: list[tuple[int, tuple[int, ...]]] = []
        self.input = Var(0, shape, (n_inputs,))
        self.where = ""

    def error(self, msg: str) -> CertkitError:
        """An error about the node being converted."""
        return CertkitError(f"{self.where}: {msg}")

    def emit(self, module: nn.Module, x: Var, shape: tuple[int, ...],
             tshape: tuple[int, ...]) -> Var:
        """Apply ``module`` to ``x``; the result has ONNX ``shape`` and torch ``tshape``."""
        self.layers.append(module)
        self.plan.append((len(self.layers) - 1, (x.node,)))
        return Var(len(self.plan), shape, tshape)

    def add(self, a: Var, b: Var) -> Var:
        """The sum of two variables of the same shape."""
        b = self.layout(b, a.tshape)
        self.plan.append((-1, (a.node, b.node)))
        return Var(len(self.plan), a.shape, a.tshape)

    def layout(self, x: Var, tshape: tuple[int, ...]) -> Var:
        """``x`` held as a torch tensor of per-sample shape ``tshape``."""
        if x.tshape == tshape:
            return x
        if len(x.tshape) != 1:
            x = self.emit(nn.Flatten(), x, x.shape, (prod(x.tshape),))
        if len(tshape) != 1:
            x = self.emit(nn.Unflatten(1, tshape), x, x.shape, tshape)
        return x

    def affine(self, x: Var, scale: np.ndarray | None, shift: np.ndarray | None) -> Var:
        """``x * scale + shift`` with constants that broadcast to ``x``'s ONNX shape."""

        def full(c: np.ndarray | None) -> torch.Tensor | None:
            if c is None:
                return None
            c = np.asarray(c, dtype=np.float64)
            try:
                shape = np.broadcast_shapes(c.shape, x.shape)
            except ValueError:
                shape = None
            if shape != x.shape:
                raise self.error(f"a constant of shape {c.shape} would change the shape "
                                 f"{x.shape} of a variable (broadcasting over the input is not "
                                 "supported)")
            return torch.tensor(np.broadcast_to(c, x.shape).reshape(x.tshape),
                                dtype=torch.float64)

        return self.emit(ConstAffine(full(scale), full(shift)), x, x.shape, x.tshape)

    def linear(self, x: Var, weight: np.ndarray, bias: np.ndarray | None,
               shape: tuple[int, ...]) -> Var:
        """``weight @ x + bias`` on ``x`` flattened (``weight``: out x in)."""
        n_out, n_in = weight.shape
        if prod(x.shape) != n_in:
            raise self.error(f"a {n_out}x{n_in} matrix cannot multiply a value of shape "
                             f"{x.shape}")
        x = self.layout(x, (n_in,))
        lin = nn.Linear(n_in, n_out, bias=bias is not None, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(weight, dtype=np.float64)))
            if bias is not None:
                b = np.broadcast_to(np.asarray(bias, dtype=np.float64), (n_out,))
                lin.bias.copy_(torch.tensor(b.copy()))
        return self.emit(lin, x, shape, (n_out,))

    def fold(self, node: onnx.NodeProto, inputs: list[Value]) -> list[np.ndarray]:
        """Evaluate a node whose inputs are all constants (ONNX's reference evaluator)."""
        from onnx.reference import ReferenceEvaluator

        names = [n for n in node.input if n]
        arrays = [a for a in inputs if a is not None]
        vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
               for n, a in zip(names, arrays, strict=True)]
        outs = [helper.make_empty_tensor_value_info(n) for n in node.output]
        graph = helper.make_graph([node], "fold", vis, outs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            got = ReferenceEvaluator(model).run(None, dict(zip(names, arrays, strict=True)))
        except Exception as err:  # the evaluator raises many types
            raise self.error(f"cannot evaluate this constant expression: {err}") from err
        return [np.asarray(g) for g in got]

    def module(self, out: Var) -> nn.Module:
        """The finished module (float64): flat outputs, consecutive affine layers merged."""
        out = self.layout(out, (prod(out.tshape),))
        uses: dict[int, int] = {}
        for _, ins in self.plan:
            for i in ins:
                uses[i] = uses.get(i, 0) + 1
        chain = all(k >= 0 and ins == (j,) for j, (k, ins) in enumerate(self.plan))
        chain = chain and all(c == 1 for c in uses.values()) and out.node == len(self.plan)
        if not chain:
            return GraphNet(self.layers, self.plan[: out.node])
        merged: list[nn.Module] = []
        for m in self.layers:
            both = merge_pair(merged[-1], m) if merged else None
            if both is None:
                merged.append(m)
            else:
                merged[-1] = both
        return nn.Sequential(*merged)


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """The node's attributes as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}
