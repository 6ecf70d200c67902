"""ONNX networks -> torch modules the bound engine accepts, checked against onnxruntime.

``load_onnx(path)`` reads the graph with the ``onnx`` package, folds constant expressions,
translates every operator that touches the input (``onnx_ops``: Gemm, MatMul, Add, Sub,
Mul/Div by constants, Neg, Relu, Clip, Conv, AveragePool, BatchNormalization, Flatten,
Reshape, Squeeze/Unsqueeze/Transpose that keep the data order, Identity, Dropout; any
operator on constants only, e.g. Constant, Transpose, Shape, Concat) and returns an
:class:`OnnxNetwork`. Chains become an ``nn.Sequential``; graphs with residual sums a
:class:`~certkit.io.onnx_modules.GraphNet`. The module maps flat inputs (B, n_in) to flat
outputs (B, n_out). With ``check`` (the default) it is run beside onnxruntime on random
inputs and must agree to within ``atol`` (absolute, relative beyond outputs of size 1).
"""

from __future__ import annotations

import copy
import gzip
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CertkitError
from .onnx_convert import Converter, Var
from .onnx_ops import RULES

_FLOAT_TYPES = {1: np.float32, 11: np.float64}  # TensorProto.FLOAT, DOUBLE


@dataclass
class OnnxNetwork:
    """An imported network: torch modules and what onnxruntime needs to run the original.

    ``module64`` holds the ONNX weights exactly (float64; folded affine layers are combined
    in float64) and is what verification bounds; ``module`` is its float32 copy.
    """

    module: nn.Module
    module64: nn.Module
    path: str
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: Any
    n_inputs: int
    n_outputs: int
    model_bytes: bytes = field(repr=False)
    batched: bool = False  # the ONNX input's first dimension is symbolic
    _session: Any = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the onnxruntime session (worker processes make their own)."""
        state = dict(self.__dict__)
        state["_session"] = None
        return state

    def session(self) -> Any:
        """An onnxruntime inference session of the original model (created once)."""
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                self._session = ort.InferenceSession(self.model_bytes, opts,
                                                     providers=["CPUExecutionProvider"])
            except Exception as err:  # onnxruntime raises its own exception types
                raise CertkitError(f"{self.path}: onnxruntime cannot load the model: "
                                   f"{err}") from err
        return self._session

    def run_onnxruntime(self, x: np.ndarray) -> np.ndarray:
        """Outputs (B, n_out) of the original model in onnxruntime on flat inputs (B, n_in)."""
        x = np.asarray(x).reshape(-1, self.n_inputs).astype(self.input_dtype)
        sess = self.session()
        if self.batched:
            feed = x.reshape(x.shape[0], *self.input_shape[1:])
            return np.asarray(sess.run(None, {self.input_name: feed})[0]).reshape(x.shape[0], -1)
        outs = [np.asarray(sess.run(None, {self.input_name: row.reshape(self.input_shape)})[0])
                for row in x]
        return np.stack([o.reshape(-1) for o in outs]).astype(np.float64)

    def run_torch(self, x: np.ndarray | torch.Tensor,
                  dtype: torch.dtype = torch.float32) -> np.ndarray:
        """Outputs (B, n_out) of the imported module on flat inputs (B, n_in)."""
        t = torch.as_tensor(np.asarray(x), dtype=dtype).reshape(-1, self.n_inputs)
        mod = {torch.float32: self.module, torch.float64: self.module64}.get(dtype)
        if mod is None:
            mod = copy.deepcopy(self.module64).to(dtype)
        with torch.no_grad():
            return mod(t).double().numpy()


def _max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b) / np.maximum(1.0, np.abs(b))).max())


def check_onnxruntime(net: OnnxNetwork, x: np.ndarray, atol: float = 1e-5) -> float:
    """Compare the module with onnxruntime on ``x`` (B, n_in); error above ``atol``."""
    diff = _max_rel_diff(net.run_torch(x), net.run_onnxruntime(x))
    if not diff <= atol:
        raise CertkitError(f"{net.path}: the imported network disagrees with onnxruntime "
                           f"(max difference {diff:.3g} > {atol:g}); please report this model")
    return diff


def _shape_of(vi: Any, what: str, path: str) -> tuple[tuple[int, ...], bool]:
    dims = vi.type.tensor_type.shape.dim
    shape, batched = [], False
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(int(d.dim_value))
        elif i == 0 and len(dims) > 1:
            shape.append(1)
            batched = True
        else:
            raise CertkitError(f"{path}: dimension {i} of the {what} {vi.name!r} is not fixed")
    return tuple(shape), batched


def _read(path: Path) -> Any:
    import onnx

    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        return onnx.load_model_from_string(data)
    except (OSError, ValueError, EOFError) as err:
        raise CertkitError(f"{path}: {err}") from None
    except Exception as err:  # protobuf's DecodeError and friends
        raise CertkitError(f"{path}: not a valid ONNX model ({type(err).__name__})") from None


def _convert(model: Any, path: str) -> tuple[Converter, Var, str, tuple[int, ...], bool, Any]:
    from onnx import numpy_helper

    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    values: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    inputs = [i for i in g.input if i.name not in values]
    if len(inputs) != 1 or len(g.output) != 1:
        raise CertkitError(f"{path}: networks with exactly one input and one output are "
                           f"supported, this one has {len(inputs)} and {len(g.output)}")
    inp = inputs[0]
    dtype = _FLOAT_TYPES.get(inp.type.tensor_type.elem_type)
    if dtype is None:
        raise CertkitError(f"{path}: the input {inp.name!r} must be float32 or float64")
    shape, batched = _shape_of(inp, "input", path)
    cv = Converter(opset, prod(shape), shape)
    values[inp.name] = cv.input
    for k, node in enumerate(g.node):
        cv.where = f"{path}: node {node.name!r} ({node.op_type})" if node.name else \
            f"{path}: node #{k} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise cv.error(f"operator {node.op_type!r} of domain {node.domain!r} is not supported")
        missing = [n for n in node.input if n and n not in values]
        if missing:
            raise cv.error(f"uses the undefined value {missing[0]!r}")
        ins = [values[n] if n else None for n in node.input]
        if node.op_type == "Shape" and isinstance(ins[0], Var):
            at = {a.name: a.i for a in node.attribute}
            full = np.array(ins[0].shape, dtype=np.int64)
            outs: list[Any] = [full[at.get("start", 0): at.get("end", len(full))]]
        elif not any(isinstance(v, Var) for v in ins):
            outs = list(cv.fold(node, ins))
        elif node.op_type in RULES:
            outs = RULES[node.op_type](cv, node, ins)
        else:
            raise cv.error(f"unsupported ONNX operator {node.op_type!r}; supported on the "
                           f"input path: {', '.join(sorted(RULES))}")
        for name, v in zip(node.output, outs, strict=False):
            if name:
                values[name] = v
    out = values.get(g.output[0].name)
    if not isinstance(out, Var):
        raise CertkitError(f"{path}: the output {g.output[0].name!r} does not depend on the input")
    return cv, out, inp.name, shape, batched, dtype


def load_onnx(path: str | Path, *, check: bool = True, samples: int = 8, atol: float = 1e-5,
              box: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0) -> OnnxNetwork:
    """Import an ONNX network; with ``check`` compare it with onnxruntime on ``samples``
    random inputs (uniform in ``box`` = (lower, upper) if given, else standard normal)."""
    path = Path(path)
    model = _read(path)
    cv, out, name, shape, batched, dtype = _convert(model, str(path))
    module64 = cv.module(out).eval()
    for p in module64.parameters():
        p.requires_grad_(False)
    module = copy.deepcopy(module64).float()
    net = OnnxNetwork(module, module64, str(path), name, shape, dtype, prod(shape), prod(out.shape),
                      model.SerializeToString(), batched)
    if check:
        rng = np.random.default_rng(seed)
        if box is not None:
            lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in box)
            x = lo + (hi - lo) * rng.random((samples, net.n_inputs))
        else:
            x = rng.standard_normal((samples, net.n_inputs))
        check_onnxruntime(net, x, atol)
    return net
