"""Small ONNX graphs built with ``onnx.helper`` (no exporter involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tensor(name: str, a: np.ndarray) -> onnx.TensorProto:
    """A float32 (or int64) initializer."""
    a = np.asarray(a)
    return numpy_helper.from_array(a.astype(np.int64 if a.dtype.kind == "i" else np.float32), name)


def save(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], in_shape: list[int | str],
         out_shape: list[int | str] | None, path: Path, opset: int = 13) -> Path:
    """A model with input ``x`` and output ``y``."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def mlp(weights: list[np.ndarray], biases: list[np.ndarray], path: Path) -> Path:
    """Gemm (transB) + Relu layers, no Relu after the last; input (1, n)."""
    nodes, inits, cur = [], [], "x"
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits += [tensor(f"W{k}", w), tensor(f"B{k}", b)]
        out = "y" if k == len(weights) - 1 else f"h{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"B{k}"], [out], transB=1,
                                      name=f"gemm{k}"))
        cur = out
        if k < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"], name=f"relu{k}"))
            cur = f"r{k}"
    return save(nodes, inits, [1, weights[0].shape[1]], [1, weights[-1].shape[0]], path)
