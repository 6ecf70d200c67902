"""The bound graph: a topologically ordered list of primitive ops extracted from a module.

``nn.Sequential`` models (nested ones included) are walked directly; any other module is
traced with ``torch.fx`` (supported layer types are leaves), which also covers residual
``x + f(x)`` blocks, ``F.relu``, ``flatten``/``view`` and arithmetic with constants. The
graph is built on the clean input: shapes come from it, and so do the batch statistics of
train-mode BatchNorm layers. Anything else raises a :class:`CertkitError` naming the layer
and where it sits.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CertkitError
from . import rules
from .registry import Op, lowering_for, supported_layers


@dataclass
class Node:
    """One value of the graph: the input (``op is None``) or an op applied to earlier nodes."""

    index: int
    name: str
    op: Op | None
    inputs: tuple[int, ...]
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass
class Graph:
    """Nodes in topological order; node 0 is the engine input, ``output`` the result."""

    nodes: list[Node]
    output: int
    clean_output: Tensor | None = field(default=None, repr=False)

    @property
    def relu_nodes(self) -> list[int]:
        return [n.index for n in self.nodes if isinstance(n.op, rules.ReluOp)]

    @property
    def pre_activations(self) -> set[int]:
        """Nodes that feed a ReLU (their bounds decide the relaxations)."""
        return {self.nodes[i].inputs[0] for i in self.relu_nodes}

    def take(self, rows: slice | Tensor) -> Graph:
        """The graph restricted to some of the samples (a slice or an index tensor)."""
        nodes = [Node(n.index, n.name, None if n.op is None else n.op.take(rows), n.inputs,
                      n.shape) for n in self.nodes[: self.output + 1]]
        return Graph(nodes, self.output)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return lowering_for(m) is not None


_ADD = {operator.add, operator.iadd, torch.add, "add", "add_"}
_SUB = {operator.sub, operator.isub, torch.sub, "sub"}
_MUL = {operator.mul, operator.imul, torch.mul, "mul"}
_DIV = {operator.truediv, torch.div, "div"}
_NEG = {operator.neg, torch.neg, "neg"}
_RELU = {F.relu, torch.relu, "relu", "relu_"}
_RESHAPE = {torch.flatten, torch.reshape, "view", "reshape", "flatten"}
_IDENTITY = {"contiguous"}
_SHAPE_QUERIES = {"size", "dim", getattr}


class _Builder:
    def __init__(self, x: Tensor) -> None:
        self.nodes = [Node(0, "input", None, (), tuple(x.shape[1:]))]
        self.values = [x]

    def add(self, name: str, op: Op, inputs: tuple[int, ...]) -> int:
        vals = [self.values[i] for i in inputs]
        try:
            out = op.forward(*vals)
        except RuntimeError as err:
            raise CertkitError(f"layer {name} ({op.describe()}) does not accept inputs of shape "
                               f"{[tuple(v.shape) for v in vals]}: {err}") from err
        op.in_shapes = tuple(tuple(v.shape[1:]) for v in vals)
        op.out_shape = tuple(out.shape[1:])
        self.nodes.append(Node(len(self.nodes), name, op, inputs, op.out_shape))
        self.values.append(out)
        return len(self.nodes) - 1

    def module(self, m: nn.Module, name: str, node: int) -> int:
        if type(m) is nn.Sequential:
            for child_name, child in m.named_children():
                node = self.module(child, f"{name}.{child_name}" if name else child_name, node)
            return node
        lower = lowering_for(m)
        if lower is None:
            return self.traced(m, name, node)
        ops = lower(m, self.values[node])
        for k, op in enumerate(ops):
            node = self.add(name if len(ops) == 1 else f"{name}/{k}", op, (node,))
        return node

    def traced(self, m: nn.Module, name: str, node: int) -> int:
        where = f"position {name!r}" if name else "the top level"
        if type(m).__module__.startswith("torch.nn"):
            raise CertkitError(f"unsupported layer {type(m).__name__} at {where} of the model; "
                               f"supported: {', '.join(supported_layers())}")
        try:
            graph = _Tracer().trace(m)
        except Exception as err:  # fx raises many types for untraceable code
            raise CertkitError(f"cannot trace {type(m).__name__} at {where}: {err}") from err
        gm = fx.GraphModule(m, graph)
        env: dict[fx.Node, Any] = {}
        placeholders = 0
        for n in graph.nodes:
            qual = f"{name}.{n.target}" if name else str(n.target)
            if n.op == "placeholder":
                if placeholders:
                    raise CertkitError(f"{type(m).__name__} takes more than one input")
                placeholders += 1
                env[n] = _Ref(node)
            elif n.op == "get_attr":
                env[n] = operator.attrgetter(str(n.target))(gm)
            elif n.op == "call_module":
                sub = gm.get_submodule(str(n.target))
                args = [env[a] if isinstance(a, fx.Node) else a for a in n.args]
                if len(args) != 1 or not isinstance(args[0], _Ref) or n.kwargs:
                    raise CertkitError(f"layer {qual} must be called on one tensor")
                env[n] = _Ref(self.module(sub, qual, args[0].index))
            elif n.op in ("call_function", "call_method"):
                env[n] = self.call(n, env, f"{name}.{n.name}" if name else n.name)
            elif n.op == "output":
                out = env[n.args[0]] if isinstance(n.args[0], fx.Node) else None
                if not isinstance(out, _Ref):
                    raise CertkitError(f"{type(m).__name__} must return a single tensor")
                return out.index
        raise CertkitError(f"{type(m).__name__} has no output")

    def call(self, n: fx.Node, env: dict[fx.Node, Any], name: str) -> Any:
        args = [env[a] if isinstance(a, fx.Node) else a for a in n.args]
        kwargs = {k: env[v] if isinstance(v, fx.Node) else v for k, v in n.kwargs.items()}
        refs = [a for a in [*args, *kwargs.values()] if isinstance(a, _Ref)]
        target = n.target
        if not refs:  # constant arithmetic (sizes, shapes): evaluate it
            fn = getattr(args[0], str(target)) if n.op == "call_method" else target
            return fn(*(args[1:] if n.op == "call_method" else args), **kwargs)
        x = refs[0].index
        const = [a for a in args if not isinstance(a, _Ref)]
        if target in _SHAPE_QUERIES:  # x.size(0), x.shape, x.dim(): values, not tensors
            vals = [self.values[a.index] if isinstance(a, _Ref) else a for a in args]
            fn = getattr(vals[0], str(target)) if n.op == "call_method" else target
            return fn(*(vals[1:] if n.op == "call_method" else vals), **kwargs)
        if target in _IDENTITY:
            return refs[0]
        if target in _RELU:
            return _Ref(self.add(name, rules.ReluOp(), (x,)))
        if target in _RESHAPE:
            vals = [self.values[a.index] if isinstance(a, _Ref) else a for a in args]
            fn = getattr(vals[0], str(target)) if n.op == "call_method" else target
            out = fn(*(vals[1:] if n.op == "call_method" else vals), **kwargs)
            if out.shape[0] != self.values[x].shape[0]:
                raise CertkitError(f"{name}: reshapes must keep the batch dimension")
            return _Ref(self.add(name, rules.ReshapeOp(tuple(out.shape[1:])), (x,)))
        if target in _ADD and len(refs) == 2 and not kwargs:
            return _Ref(self.add(name, rules.AddOp(), (refs[0].index, refs[1].index)))
        if target in _SUB and len(refs) == 2 and not kwargs:
            neg = self.affine(f"{name}/neg", args[1].index, -1.0, 0.0)
            return _Ref(self.add(name, rules.AddOp(), (args[0].index, neg)))
        if len(refs) == 1 and len(args) == 2 and not kwargs and isinstance(const[0], _CONST):
            c = const[0]
            first = isinstance(args[0], _Ref)
            if target in _ADD:
                return _Ref(self.affine(name, x, 1.0, c))
            if target in _SUB:
                sc, sh = (1.0, -c) if first else (-1.0, c)
                return _Ref(self.affine(name, x, sc, sh))
            if target in _MUL:
                return _Ref(self.affine(name, x, c, 0.0))
            if target in _DIV and first:
                return _Ref(self.affine(name, x, 1.0 / c, 0.0))
        if target in _NEG and len(args) == 1:
            return _Ref(self.affine(name, x, -1.0, 0.0))
        what = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        raise CertkitError(f"unsupported operation {what!r} at node {name!r} of the model")

    def affine(self, name: str, x: int, scale: Any, shift: Any) -> int:
        v = self.values[x]

        def t(c: Any) -> Tensor:
            return torch.as_tensor(c, dtype=v.dtype, device=v.device)

        sc, sh = t(scale), t(shift)
        if (sc * v + sh).shape != v.shape:
            raise CertkitError(f"{name}: a constant may not change the shape of a tensor")
        per_channel = sc.dim() == 0 and sh.dim() == 0
        return self.add(name, rules.AffineOp(sc, sh, per_channel), (x,))


@dataclass
class _Ref:
    index: int


_CONST = (int, float, Tensor)


def build_graph(model: nn.Module, clean: Tensor, prefix: nn.Module | None = None,
                check: bool = True) -> Graph:
    """The bound graph of ``model`` (after ``prefix``, if any) at the clean input ``clean``.

    With ``check`` (and the model in eval mode) the graph's output on ``clean`` is compared
    with the model's own, so a lowering that disagrees with the module is an error.
    """
    b = _Builder(clean)
    node = 0
    if prefix is not None:
        node = b.module(prefix, "spec", node)
    node = b.module(model, "", node)
    out = b.values[node]
    if check and not model.training and (prefix is None or not prefix.training):
        with torch.no_grad():  # the first sample suffices to catch a disagreeing lowering
            ref = model(clean if prefix is None else prefix(clean))[:1] if prefix is not None \
                else model(clean[:1])
        first = out[:1].detach()
        if ref.shape != first.shape or not torch.allclose(
                ref, first, rtol=1e-4, atol=1e-4 * (1 + float(ref.abs().max()))):
            raise CertkitError("the bound graph does not reproduce the model's output; the model "
                               "uses an operation the bound engine does not model")
    return Graph(b.nodes, node, out)
