"""Tiny random networks and properties written as ONNX / VNN-LIB files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from certkit.bounds.subdomains import SubdomainBounder
from certkit.io.onnx import load_onnx
from certkit.verify.complete.chain import Chain, extract_chain
from certkit.verify.complete.milp import solve_milp


def random_mlp(rng: np.random.Generator, sizes: list[int]) -> tuple[list[np.ndarray],
                                                                   list[np.ndarray]]:
    """Float32-exact weights and biases of an MLP with layer ``sizes`` (inputs first)."""
    ws = [rng.normal(size=(b, a)).astype(np.float32) for a, b in zip(sizes, sizes[1:],
                                                                      strict=False)]
    bs = [(0.5 * rng.normal(size=b)).astype(np.float32) for b in sizes[1:]]
    return ws, bs


def write_mlp(path: Path, weights: list[np.ndarray], biases: list[np.ndarray]) -> Path:
    """Gemm + Relu layers (none after the last); input (1, n)."""
    nodes, inits, cur = [], [], "x"
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(b, f"B{k}")]
        out = "y" if k == len(weights) - 1 else f"h{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"B{k}"], [out], transB=1))
        cur = out
        if k < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"]))
            cur = f"r{k}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                     [1, weights[0].shape[1]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weights[-1].shape[0]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def forward(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The MLP in float64 on inputs (B, n)."""
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = x @ w.T.astype(np.float64) + b
        if k < len(weights) - 1:
            x = np.maximum(x, 0)
    return x


def write_property(path: Path, lo: np.ndarray, hi: np.ndarray,
                   groups: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """Box ``[lo, hi]`` and the disjunction of conjunctions ``C y <= d``."""
    n_out = groups[0][0].shape[1]
    lines = [f"(declare-const X_{i} Real)" for i in range(len(lo))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        lines += [f"(assert (>= X_{i} {float(a)!r}))", f"(assert (<= X_{i} {float(b)!r}))"]

    def row(c: np.ndarray, d: float) -> str:
        nz = np.flatnonzero(c)
        if len(nz) == 1 and abs(c[nz[0]]) == 1:  # the plain form other parsers read too
            op, rhs = ("<=", d) if c[nz[0]] > 0 else (">=", -d)
            return f"({op} Y_{nz[0]} {rhs:.6f})"
        terms = " ".join(f"(* {float(v)!r} Y_{j})" for j, v in enumerate(c) if v != 0)
        return f"(<= (+ {terms} 0.0) {float(d)!r})"

    conj = ["(and " + " ".join(row(c, d) for c, d in zip(C, D, strict=True)) + ")"
            for C, D in groups]
    lines.append("(assert (or " + " ".join(conj) + "))")
    path.write_text("\n".join(lines) + "\n")
    return path


def grid(lo: np.ndarray, hi: np.ndarray, per_axis: int) -> np.ndarray:
    """A dense grid over the box (B, n)."""
    axes = [np.linspace(a, b, per_axis) for a, b in zip(lo, hi, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(lo))


def chain_bounds(chain: Chain, lo: torch.Tensor,
                 hi: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The bound engine's CROWN pre-activation bounds of every hidden layer over the box
    ``lo``/``hi`` (1, n_in), each (1, n_k)."""
    bounds = SubdomainBounder(chain.module(), lo, hi).root_bounds(0)
    return [x for x, _ in bounds], [x for _, x in bounds]


def optimum(chain: Chain, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
             d: np.ndarray) -> float:
    """The MILP's ``min_x max_i (C_i f(x) - d_i)`` over the box."""
    lo_t, hi_t = torch.tensor(lo)[None], torch.tensor(hi)[None]
    lows, ups = chain_bounds(chain, lo_t, hi_t)
    res = solve_milp(chain, lo_t[0], hi_t[0], torch.tensor(C), torch.tensor(d),
                     [x[0] for x in lows], [x[0] for x in ups], margin=float("inf"))
    assert np.isfinite(res.objective)
    return res.objective


def make_instance(tmp: Path, seed: int, n_in: int, depth: int, unsafe: list[bool],
                  plain: bool = False) -> tuple[Path, Path, float]:
    """Files of a random instance whose groups are unsafe as ``unsafe`` says.

    ``plain``: every row bounds one output (``Y_j <= c`` / ``Y_j >= c``), the form every
    VNN-LIB reader accepts (maraboupy's rejects sums of products).
    """
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [int(rng.integers(3, 7)) for _ in range(depth)] + [2]
    ws, bs = random_mlp(rng, sizes)
    lo = np.round(rng.uniform(-1, 0, n_in), 3)
    hi = np.round(lo + rng.uniform(0.3, 1.5, n_in), 3)
    onnx_path = write_mlp(tmp / f"net{seed}.onnx", ws, bs)
    chain = extract_chain(load_onnx(onnx_path).module64, n_in)
    assert chain is not None
    groups, deltas = [], []
    for bad in unsafe:
        m = int(rng.integers(1, 3))
        C = np.round(rng.normal(size=(m, 2)), 3)
        if plain:
            C = np.eye(2)[rng.integers(0, 2, m)] * rng.choice([-1.0, 1.0], (m, 1))
        d = np.round(rng.normal(size=m), 3)
        t = optimum(chain, lo, hi, C, d)
        delta = 0.05 * (1.0 + abs(t))
        d = d + (t + delta if bad else t - delta)  # new optimum: -delta or +delta
        if plain:  # written with 6 decimals: keep the optimum's sign
            d = np.where(bad, np.ceil(d * 1e6), np.floor(d * 1e6)) / 1e6
        groups.append((C, d))
        deltas.append(delta)
    ys = forward(ws, bs, grid(lo, hi, 201 if n_in == 1 else 41))
    for (C, d), delta, bad in zip(groups, deltas, unsafe, strict=True):
        best = (ys @ C.T - d).max(1).min()
        assert best >= -delta - 1e-6  # the grid never beats the exact optimum
        if not bad:
            assert best > 0
    return onnx_path, write_property(tmp / f"prop{seed}.vnnlib", lo, hi, groups), min(deltas)
