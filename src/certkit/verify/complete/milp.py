"""Mixed-integer encoding of a ReLU chain (HiGHS via ``highspy``), exact up to tolerances.

For one group of output rows the program minimises ``t`` subject to ``C_i y - d_i <= t``:
the group is unsafe somewhere in the box iff the optimum is <= 0. Inputs lie in the box;
every hidden neuron gets its pre-activation ``z`` (an equality row); with bounds
``l <= z <= u`` (CROWN's, from the bound engine) a stable neuron is exact (``a = z`` or
``a = 0``) and an unstable one gets the big-M encoding with a binary ``delta``:
``a >= z, a >= 0, a <= z - l (1 - delta), a <= u delta`` (Tjeng et al. 2019). Split
constraints of branch and bound fix neurons to a side (``z >= 0`` / ``z <= 0``); with
``relax=True`` the binaries become continuous (the LP relaxation, exact once every neuron
is fixed).

When the inputs are few (input splitting's leaves), :func:`_encode_compact` writes the
same program over the inputs and the unstable neurons only: the stable neurons between them
are affine, so they are composed into the rows instead of getting variables of their own
(tens of short rows instead of hundreds of dense ones; same optimum).

HiGHS works with feasibility tolerances (set to 1e-9 here), so a proof needs the solver's
dual bound above ``margin`` (default ``1e-6 * (1 + |d|)``); candidate counterexamples are
only candidates until onnxruntime confirms them. The program is a decision, not an
optimisation: ``t <= margin`` is a bound of the program, so the solver prunes every branch
whose relaxation stays above it instead of closing the gap to the exact optimum (on ACAS Xu
leaves ten times fewer nodes); infeasible means proven. ``margin=inf`` gives the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from .chain import Chain


@dataclass
class MilpResult:
    """``unsat`` (dual bound > margin), ``candidate`` (a point with t <= 0), ``timeout`` or
    ``unknown`` (optimum within the margin of 0, or no solution)."""

    status: str
    x: np.ndarray | None = None
    objective: float = float("nan")
    bound: float = float("nan")


class _Model:
    def __init__(self) -> None:
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.integer: list[int] = []
        self.rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []

    def var(self, lo: float, hi: float, integer: bool = False) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        if integer:
            self.integer.append(len(self.lo) - 1)
        return len(self.lo) - 1

    def row(self, idx: list[int] | np.ndarray, val: list[float] | np.ndarray, lo: float,
            hi: float) -> None:
        self.rows.append((np.asarray(idx, dtype=np.int32), np.asarray(val, dtype=np.float64),
                          lo, hi))


def _side_bounds(lows: np.ndarray, ups: np.ndarray, s: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Pre-activation bounds with split neurons clamped to their side."""
    return (np.where(s > 0, np.maximum(lows, 0.0), lows),
            np.where(s < 0, np.minimum(ups, 0.0), ups))


def _unimplied(s: float, low: float, up: float) -> bool:
    """Whether the split ``s`` of a neuron with given bounds ``[low, up]`` needs its own
    constraint: the bounds (perhaps already clamped by the split) do not imply it strictly."""
    return (s < 0 and up >= 0) or (s > 0 and low <= 0)


def encode_layers(chain: Chain, lo: np.ndarray, hi: np.ndarray, lows: list[np.ndarray],
                  ups: list[np.ndarray], splits: list[np.ndarray] | None, relax: bool,
                  layers: int) -> tuple[_Model, list[int]]:
    """The layered program of the first ``layers`` hidden layers: the model and, for each
    post-activation of the last of them, its column (-1: the constant 0)."""
    inf = float("inf")
    m = _Model()
    prev = [m.var(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]
    for k in range(layers):
        w = chain.weights[k].numpy()
        b = chain.biases[k].numpy()
        s = np.zeros(w.shape[0]) if splits is None else splits[k]
        zl, zu = _side_bounds(lows[k], ups[k], s)
        cur = []
        live = np.array([p >= 0 for p in prev])
        cols = np.array([p for p in prev if p >= 0], dtype=np.int32)
        for i in range(w.shape[0]):
            lb, u = float(zl[i]), float(zu[i])
            if u <= 0:
                cur.append(-1)
                if s[i] < 0 and _unimplied(s[i], lows[k][i], ups[k][i]):  # keep the split
                    m.row(cols, w[i][live], -inf, -b[i])
                continue
            z = m.var(lb, u)
            m.row(np.append(cols, z), np.append(-w[i][live], 1.0), b[i], b[i])
            if lb >= 0:
                cur.append(z)
                continue
            a = m.var(0.0, u)
            delta = m.var(0.0, 1.0, integer=not relax)
            m.row([a, z], [1.0, -1.0], 0.0, inf)  # a >= z
            m.row([a, z, delta], [1.0, -1.0, -lb], -inf, -lb)  # a <= z - l (1 - delta)
            m.row([a, delta], [1.0, -u], -inf, 0.0)  # a <= u delta
            cur.append(a)
        prev = cur
    return m, prev


def _encode(chain: Chain, lo: np.ndarray, hi: np.ndarray, C: np.ndarray, d: np.ndarray,
            lows: list[np.ndarray], ups: list[np.ndarray], splits: list[np.ndarray] | None,
            relax: bool) -> tuple[_Model, list[int], int]:
    inf = float("inf")
    m, prev = encode_layers(chain, lo, hi, lows, ups, splits, relax, len(chain.hidden))
    w = C @ chain.weights[-1].numpy()
    b = C @ chain.biases[-1].numpy()
    t = m.var(-inf, inf)
    live = np.array([p >= 0 for p in prev])
    cols = np.array([p for p in prev if p >= 0], dtype=np.int32)
    for i in range(C.shape[0]):
        m.row(np.append(cols, t), np.append(w[i][live], -1.0), -inf, float(d[i] - b[i]))
    return m, list(range(len(lo))), t


COMPACT_MAX_BINARIES = 16


def _prefer_compact(chain: Chain, lows: list[np.ndarray], ups: list[np.ndarray]) -> bool:
    """Compact when it has fewer matrix entries and at most ``COMPACT_MAX_BINARIES``
    binaries: its LP relaxation lacks the stable neurons' bound rows, which only a small
    search tree can do without."""
    n_var, compact, layered = chain.n_inputs, 0, 0
    for k in range(len(chain.hidden)):
        unstable = int(((lows[k] < 0) & (ups[k] > 0)).sum())
        compact += unstable * (n_var + 4)
        layered += int((ups[k] > 0).sum()) * (chain.weights[k].shape[1] + 1) + 3 * unstable
        n_var += unstable
    return compact < layered and n_var - chain.n_inputs <= COMPACT_MAX_BINARIES


def _encode_compact(chain: Chain, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
                    d: np.ndarray, lows: list[np.ndarray], ups: list[np.ndarray],
                    splits: list[np.ndarray] | None, relax: bool) -> tuple[_Model, list[int],
                                                                           int]:
    """The program over the inputs and the unstable neurons' ``a`` and ``delta``: every
    layer's post-activations as ``E v + e`` in the variables ``v`` so far."""
    inf = float("inf")
    m = _Model()
    cols = [m.var(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]
    E, e = np.eye(len(cols)), np.zeros(len(cols))  # post-activations = E[:, :nv] v + e
    for k in range(len(chain.hidden)):
        w, b = chain.weights[k].numpy(), chain.biases[k].numpy()
        s = np.zeros(w.shape[0]) if splits is None else splits[k]
        zl, zu = _side_bounds(lows[k], ups[k], s)
        Z, z0 = w @ E, w @ e + b  # pre-activations over the current variables
        post_rows, post_off = np.zeros((w.shape[0], Z.shape[1])), np.zeros(w.shape[0])
        new_cols: list[tuple[int, int]] = []  # (neuron, a column)
        for i in range(w.shape[0]):
            split_row = _unimplied(s[i], lows[k][i], ups[k][i])
            if zu[i] <= 0:  # inactive
                if split_row:
                    m.row(cols, Z[i], -inf, -z0[i])
                continue
            if zl[i] >= 0:  # active
                if split_row:
                    m.row(cols, Z[i], -z0[i], inf)
                post_rows[i], post_off[i] = Z[i], z0[i]
                continue
            a = m.var(0.0, float(zu[i]))
            delta = m.var(0.0, 1.0, integer=not relax)
            l_, u_ = float(zl[i]), float(zu[i])
            m.row(cols, Z[i], l_ - z0[i], u_ - z0[i])  # l <= z <= u
            m.row(np.append(cols, a), np.append(-Z[i], 1.0), z0[i], inf)  # a >= z
            # a <= z - l (1 - delta)
            m.row(np.append(cols, [a, delta]), np.append(-Z[i], [1.0, -l_]), -inf, z0[i] - l_)
            m.row([a, delta], [1.0, -u_], -inf, 0.0)  # a <= u delta
            new_cols.append((i, a))
        cols = cols + [a for _, a in new_cols]
        E = np.concatenate([post_rows, np.zeros((w.shape[0], len(new_cols)))], axis=1)
        for j, (i, _) in enumerate(new_cols):
            E[i, post_rows.shape[1] + j] = 1.0
        e = post_off
    w = C @ chain.weights[-1].numpy()
    b = C @ chain.biases[-1].numpy()
    Y, y0 = w @ E, w @ e + b
    t = m.var(-inf, inf)
    for i in range(C.shape[0]):
        m.row(np.append(cols, t), np.append(Y[i], -1.0), -inf, float(d[i] - y0[i]))
    return m, list(range(len(lo))), t


# presolve and primal heuristics cost most of a small program's time and give no bound:
# mnist_fc 256x4, layer 2, 28 binaries: 0.7 s a neuron against 2.0 s with them; ACAS Xu
# 4_2 property 2, 856 leaf programs of input splitting: 14.4 s against 24.0 s
QUICK: dict[str, object] = {
    "presolve": "off", "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_feasibility_jump": False, "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False}


def to_highs(model: _Model, cost: np.ndarray, time_limit: float, quick: bool = False) -> Any:
    """A HiGHS instance holding ``model`` with objective ``cost`` (one thread, tight
    tolerances, a time limit per ``run``; ``quick``: without presolve and primal
    heuristics, see :data:`QUICK`)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for opt, value in (QUICK.items() if quick else ()):
        h.setOptionValue(opt, value)
    h.setOptionValue("time_limit", max(0.01, float(time_limit)))
    h.setOptionValue("threads", 1)
    for opt in ("primal_feasibility_tolerance", "dual_feasibility_tolerance",
                "mip_feasibility_tolerance"):
        h.setOptionValue(opt, 1e-9)
    n = len(model.lo)
    h.addVars(n, np.array(model.lo), np.array(model.hi))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    if model.integer:
        idx = np.array(model.integer, dtype=np.int32)
        h.changeColsIntegrality(len(idx), idx, np.ones(len(idx), dtype=np.uint8))
    starts, indices, values, rlo, rhi = [0], [], [], [], []
    for idx_, val, a, b in model.rows:
        indices.append(idx_)
        values.append(val)
        starts.append(starts[-1] + len(idx_))
        rlo.append(a)
        rhi.append(b)
    if rlo:
        h.addRows(len(rlo), np.array(rlo), np.array(rhi), starts[-1],
                  np.array(starts[:-1], dtype=np.int32),
                  np.concatenate(indices).astype(np.int32), np.concatenate(values))
    return h


def solve_milp(chain: Chain, lo: Tensor, hi: Tensor, C: Tensor, d: Tensor,
               lows: list[Tensor], ups: list[Tensor], splits: list[Tensor] | None = None, *,
               time_limit: float = 60.0, relax: bool = False,
               margin: float | None = None, encoding: str = "auto",
               quick: bool = False) -> MilpResult:
    """Minimise the group's violation over the box (one subdomain; 1-D tensors).

    ``encoding``: ``"compact"``, ``"layered"`` or ``"auto"`` (compact for small programs,
    see :func:`_prefer_compact`; always layered for the LP relaxation); ``quick``: HiGHS
    without presolve and primal heuristics (for many small programs)."""
    def np_(t: Tensor) -> np.ndarray:
        return t.detach().double().reshape(-1).numpy() if t.dim() <= 1 else t.double().numpy()

    lows_, ups_ = [np_(x.reshape(-1)) for x in lows], [np_(x.reshape(-1)) for x in ups]
    splits_ = None if splits is None else [s.reshape(-1).numpy() for s in splits]
    args = (chain, np_(lo), np_(hi), C.double().numpy(), np_(d), lows_, ups_, splits_)
    if encoding == "auto":
        compact = not relax and _prefer_compact(chain, lows_, ups_)
        encoding = "compact" if compact else "layered"
    model, xs, t = (_encode_compact if encoding == "compact" else _encode)(*args, relax)
    margin = 1e-6 * (1.0 + float(np.abs(np_(d)).max(initial=0.0))) if margin is None else margin
    model.hi[t] = margin  # only t <= margin matters: branches that cannot reach it are cut
    cost = np.zeros(len(model.lo))
    cost[t] = 1.0
    h = to_highs(model, cost, time_limit, quick)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if status == "Infeasible":  # no input with t <= margin (or the splits exclude all)
        return MilpResult("unsat", bound=float("inf"))
    sol = np.array(h.getSolution().col_value) if info.primal_solution_status else None
    obj = float(info.objective_function_value) if sol is not None else float("nan")
    bound = float(info.mip_dual_bound) if model.integer else (obj if status == "Optimal"
                                                                else -float("inf"))
    if bound > margin:
        return MilpResult("unsat", objective=obj, bound=bound)
    if sol is not None and obj <= 0:
        return MilpResult("candidate", sol[xs], obj, bound)
    return MilpResult("timeout" if "limit" in status.lower() else "unknown", objective=obj,
                      bound=bound)
