"""One translation rule per ONNX operator applied to a variable.

A rule gets the converter, the node and its inputs (variables, constants or None for absent
optional inputs) and returns the node's outputs. Nodes whose inputs are all constants never
reach these rules: they are folded. Operators without a rule are reported by name.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from ..models.layers import Clip
from .onnx_convert import Converter, Value, Var, attrs

Rule = Callable[[Converter, onnx.NodeProto, list[Value]], list[Value]]
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a translation rule for the ONNX operators ``names``."""

    def deco(fn: Rule) -> Rule:
        for n in names:
            RULES[n] = fn
        return fn

    return deco


def _var(cv: Converter, v: Value, what: str) -> Var:
    if not isinstance(v, Var):
        raise cv.error(f"{what} must depend on the network input")
    return v


def _const(cv: Converter, v: Value, what: str) -> np.ndarray:
    if not isinstance(v, np.ndarray):
        raise cv.error(f"{what} must be a constant (weights computed from the input are not "
                       "supported)")
    return v.astype(np.float64)


@rule("Identity", "Dropout")
def _identity(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    return [ins[0]] + [None] * (len(node.output) - 1)


@rule("Relu")
def _relu(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    return [cv.emit(nn.ReLU(), x, x.shape, x.tshape)]


@rule("Neg")
def _neg(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    return [cv.affine(ins[0], np.array(-1.0), None)]


@rule("Add", "Sub", "Mul", "Div")
def _arith(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    a, b = ins
    op = node.op_type
    if isinstance(a, Var) and isinstance(b, Var):
        if op not in ("Add", "Sub"):
            raise cv.error(f"{op} of two values that depend on the input is not linear")
        if a.shape != b.shape:
            raise cv.error(f"{op} of shapes {a.shape} and {b.shape} (broadcasting between "
                           "variables is not supported)")
        if op == "Sub":
            b = cv.affine(b, np.array(-1.0), None)
        return [cv.add(a, b)]
    if isinstance(a, Var):
        c = _const(cv, b, "the second operand")
        if op == "Div" and bool((c == 0).any()):
            raise cv.error("division by zero")
        scale, shift = {"Add": (None, c), "Sub": (None, -c), "Mul": (c, None),
                        "Div": (1.0 / np.where(c == 0, 1.0, c), None)}[op]
        return [cv.affine(a, scale, shift)]
    x = _var(cv, b, "an operand")
    c = _const(cv, a, "the first operand")
    if op == "Div":
        raise cv.error("division by a value that depends on the input is not linear")
    scale, shift = {"Add": (None, c), "Sub": (np.array(-1.0), c), "Mul": (c, None)}[op]
    return [cv.affine(x, scale, shift)]


@rule("Gemm")
def _gemm(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    at = attrs(node)
    x = _var(cv, ins[0], "Gemm's input A")
    w = _const(cv, ins[1], "Gemm's input B")
    bias = None if len(ins) < 3 or ins[2] is None else _const(cv, ins[2], "Gemm's input C")
    if len(x.shape) != 2 or x.shape[int(at.get("transA", 0))] != 1:
        raise cv.error(f"Gemm on an input of shape {x.shape} (one row expected)")
    weight = (w if at.get("transB", 0) else w.T) * float(at.get("alpha", 1.0))
    if bias is not None:
        bias = bias * float(at.get("beta", 1.0))
        if bias.size not in (1, weight.shape[0]):
            raise cv.error(f"Gemm bias of shape {bias.shape} for {weight.shape[0]} outputs")
        bias = np.broadcast_to(bias.reshape(-1), (weight.shape[0],))
    return [cv.linear(x, weight, bias, (1, weight.shape[0]))]


@rule("MatMul")
def _matmul(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    a, b = ins
    if isinstance(a, Var) and isinstance(b, np.ndarray):
        w = _const(cv, b, "MatMul's weight")
        if w.ndim not in (1, 2) or prod(a.shape[:-1]) != 1:
            raise cv.error(f"MatMul of shapes {a.shape} and {w.shape} is not supported")
        w2 = w.reshape(w.shape[0], -1)
        shape = a.shape[:-1] + ((w.shape[1],) if w.ndim == 2 else ())
        return [cv.linear(a, w2.T, None, shape)]
    x = _var(cv, b, "one MatMul operand")
    w = _const(cv, a, "the other MatMul operand")
    if w.ndim != 2:
        raise cv.error(f"MatMul of shapes {w.shape} and {x.shape} is not supported")
    if len(x.shape) == 1:
        return [cv.linear(x, w, None, (w.shape[0],))]
    if x.shape[-1] != 1 or prod(x.shape[:-2]) != 1:
        raise cv.error(f"MatMul of shapes {w.shape} and {x.shape} is not supported")
    return [cv.linear(x, w, None, x.shape[:-2] + (w.shape[0], 1))]


def _reshape_to(cv: Converter, x: Var, shape: tuple[int, ...]) -> list[Value]:
    if prod(shape) != prod(x.shape):
        raise cv.error(f"cannot reshape {x.shape} to {shape}")
    return [Var(x.node, tuple(int(s) for s in shape), x.tshape)]


@rule("Flatten")
def _flatten(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    axis = int(attrs(node).get("axis", 1))
    axis = axis + len(x.shape) if axis < 0 else axis
    return _reshape_to(cv, x, (prod(x.shape[:axis]), prod(x.shape[axis:])))


@rule("Reshape")
def _reshape(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    target = [int(s) for s in _const(cv, ins[1], "the target shape")]
    allow_zero = int(attrs(node).get("allowzero", 0))
    shape = [x.shape[i] if s == 0 and not allow_zero else s for i, s in enumerate(target)]
    if shape.count(-1) > 1:
        raise cv.error(f"reshape target {target} has more than one -1")
    if -1 in shape:
        known = prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = prod(x.shape) // max(known, 1)
    return _reshape_to(cv, x, tuple(shape))


def _axes(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[int] | None:
    if len(ins) > 1 and ins[1] is not None:
        return [int(a) for a in _const(cv, ins[1], "the axes")]
    got = attrs(node).get("axes")
    return None if got is None else [int(a) for a in got]


@rule("Squeeze")
def _squeeze(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    axes = _axes(cv, node, ins)
    rank = len(x.shape)
    drop = {i for i, s in enumerate(x.shape) if s == 1} if axes is None else {
        a % rank for a in axes}
    if any(x.shape[i] != 1 for i in drop):
        raise cv.error(f"cannot squeeze a dimension of size > 1 of {x.shape}")
    return _reshape_to(cv, x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


@rule("Unsqueeze")
def _unsqueeze(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    axes = _axes(cv, node, ins) or []
    rank = len(x.shape) + len(axes)
    shape = list(x.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return _reshape_to(cv, x, tuple(shape))


@rule("Transpose")
def _transpose(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    perm = attrs(node).get("perm") or list(range(len(x.shape)))[::-1]
    moved = [p for p in perm if x.shape[p] != 1]
    if moved != sorted(moved):
        raise cv.error(f"Transpose with perm={list(perm)} reorders the data of a variable of "
                       f"shape {x.shape}; only transposes of constants are supported")
    return _reshape_to(cv, x, tuple(x.shape[p] for p in perm))


def _pads(cv: Converter, at: dict[str, Any], kernel: list[int], dil: list[int]) -> tuple[int, int]:
    auto = at.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [d * (k - 1) for d, k in zip(dil, kernel, strict=True)]
        if any(t % 2 for t in total) or any(s != 1 for s in at.get("strides", [1, 1])):
            raise cv.error(f"auto_pad={auto} with asymmetric padding is not supported")
        return total[0] // 2, total[1] // 2
    pads = [int(p) for p in at.get("pads", [0, 0, 0, 0])]
    if auto not in ("NOTSET", "VALID") or pads[0] != pads[2] or pads[1] != pads[3]:
        raise cv.error(f"padding {pads} (auto_pad={auto}) is not supported (symmetric only)")
    return pads[0], pads[1]


def _image(cv: Converter, x: Var, what: str) -> Var:
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise cv.error(f"{what} needs a 4-D input (1, C, H, W), got {x.shape}")
    return cv.layout(x, x.shape[1:])


@rule("Conv")
def _conv(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    at = attrs(node)
    x = _image(cv, _var(cv, ins[0], "Conv's input"), "Conv")
    w = _const(cv, ins[1], "Conv's weight")
    bias = None if len(ins) < 3 or ins[2] is None else _const(cv, ins[2], "Conv's bias")
    groups = int(at.get("group", 1))
    kernel = list(w.shape[2:])
    dil = [int(d) for d in at.get("dilations", [1, 1])]
    stride = [int(s) for s in at.get("strides", [1, 1])]
    pad = _pads(cv, at, kernel, dil)
    conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(kernel), stride=tuple(stride),
                     padding=pad, dilation=tuple(dil), groups=groups, bias=bias is not None,
                     dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(w))
        if bias is not None:
            conv.bias.copy_(torch.tensor(bias))
        out = tuple(conv(torch.zeros(1, *x.tshape, dtype=torch.float64)).shape[1:])
    return [cv.emit(conv, x, (1, *out), out)]


@rule("AveragePool")
def _avgpool(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    at = attrs(node)
    x = _image(cv, ins[0], "AveragePool")
    kernel = [int(k) for k in at["kernel_shape"]]
    pad = _pads(cv, at, kernel, [1, 1])
    if int(at.get("ceil_mode", 0)) or (any(pad) and not int(at.get("count_include_pad", 0))):
        raise cv.error("AveragePool with ceil_mode or with padding excluded from the count "
                       "is not supported")
    pool = nn.AvgPool2d(tuple(kernel), stride=tuple(int(s) for s in at.get("strides", kernel)),
                        padding=pad, count_include_pad=True)
    out = tuple(pool(torch.zeros(1, *x.tshape)).shape[1:])
    return [cv.emit(pool, x, (1, *out), out)]


@rule("BatchNormalization")
def _batchnorm(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = _var(cv, ins[0], "BatchNormalization's input")
    gamma, beta, mean, var = (_const(cv, v, "BatchNormalization's statistics") for v in ins[1:5])
    if len(x.shape) < 2:
        raise cv.error(f"BatchNormalization on shape {x.shape}")
    eps = float(attrs(node).get("epsilon", 1e-5))
    view = (-1,) + (1,) * (len(x.shape) - 2)
    scale = gamma / np.sqrt(var + eps)
    shift = beta - mean * scale
    return [cv.affine(x, scale.reshape(view), shift.reshape(view))]


@rule("Clip")
def _clip(cv: Converter, node: onnx.NodeProto, ins: list[Value]) -> list[Value]:
    x = ins[0]
    at = attrs(node)
    lo = at.get("min") if len(ins) < 2 or ins[1] is None else float(_const(cv, ins[1], "min"))
    hi = at.get("max") if len(ins) < 3 or ins[2] is None else float(_const(cv, ins[2], "max"))
    if lo is None and hi is None:
        return [x]
    if lo is not None and hi is not None:
        return [cv.emit(Clip(float(lo), float(hi)), x, x.shape, x.tshape)]
    # one-sided: max(x, lo) = lo + relu(x - lo); min(x, hi) = hi - relu(hi - x)
    sign, c = (1.0, float(lo)) if lo is not None else (-1.0, float(hi))
    y = cv.affine(x, np.array(sign), np.array(-sign * c))
    y = cv.emit(nn.ReLU(), y, y.shape, y.tshape)
    return [cv.affine(y, np.array(sign), np.array(c))]
