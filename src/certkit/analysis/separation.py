"""r-separation of a dataset (Yang et al. 2020; TRADES/BN paper, Table 2).

*Train-train separation*: the smallest distance between two training points with different
labels; *test-train separation*: the smallest distance between a test point and a training
point with a different label. Also counted: the points whose nearest differently-labelled
training point is closer than ``2 eps`` (no classifier can be robust at ``eps`` on both).

The nearest neighbours are **exact**. Pairs are screened with cheap lower bounds from
pooled images, from coarse to fine, and only pairs that may beat the current best (or fall
under the cap ``4 eps``) are measured in full. For Linf, the max, min and mean of a ``k x k``
block are 1-Lipschitz in the block's Linf norm, so the Linf distance of max-/min-/mean-pooled
images bounds the true distance from below (max pooling is by far the sharpest on images);
for L2, ``k`` times the L2 distance of mean-pooled images does. Distances below the cap
are exact per point; larger ones are only known to be >= the cap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CertkitError, choice_error
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import write_json_atomic

NORMS = ("linf", "l2")


@dataclass
class _Level:
    pool: int  # block side (1 = the full-resolution data)
    scale: float  # lower bound = scale * distance of the pooled vectors


def _levels(shape: tuple[int, ...], norm: str) -> list[_Level]:
    """Pooling factors, coarse to fine: the finest with <= 64 pooled values per channel (the
    dense first screen), the next finer one, then the full resolution."""
    if len(shape) != 3:
        return [_Level(1, 1.0)]
    c, h, w = shape
    ks = sorted(k for k in range(2, min(h, w) + 1) if h % k == 0 and w % k == 0)
    small = [k for k in ks if (h // k) * (w // k) <= 64 and c * (h // k) * (w // k) >= 8]
    if not small:
        return [_Level(1, 1.0)]
    chain = [k for k in ks if k <= small[0]][-2:][::-1]
    return [*(_Level(k, 1.0 if norm == "linf" else float(k)) for k in chain), _Level(1, 1.0)]


def _dense(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    """All pairwise distances of the rows of ``a`` and ``b`` (no matmul shortcut for L2)."""
    return torch.cdist(a, b, p=math.inf if norm == "linf" else 2.0,
                       compute_mode="donot_use_mm_for_euclid_dist")


def _upper_start(q: torch.Tensor, yq: torch.Tensor, r: torch.Tensor, yr: torch.Tensor,
                 norm: str) -> float:
    """An exact distance of some differently-labelled pair (a starting upper bound)."""
    a, b = q[:256].flatten(1).double(), r[:2048].flatten(1).double()
    d = _dense(a, b, norm)
    d[yq[:256, None] == yr[None, :2048]] = math.inf
    return float(d.min()) if d.numel() else math.inf


def _pooled(x: torch.Tensor, lv: _Level, norm: str, first: bool) -> torch.Tensor:
    """Features whose distance (times ``lv.scale``) bounds the true distance from below."""
    if lv.pool == 1:
        return x.flatten(1).to(torch.float32)
    x = x.to(torch.float64)
    if norm == "l2":
        return F.avg_pool2d(x, lv.pool).flatten(1).to(torch.float32)
    parts = [F.max_pool2d(x, lv.pool)]
    if not first:  # the dense first screen keeps to the sharpest, smallest feature set
        parts += [-F.max_pool2d(-x, lv.pool), F.avg_pool2d(x, lv.pool)]
    return torch.cat([p.flatten(1) for p in parts], 1).to(torch.float32)


def _cast(t: torch.Tensor, exact: bool) -> torch.Tensor:
    return t.double() if exact else t


def _dist(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    d = (a - b).abs()
    return d.amax(-1) if norm == "linf" else d.pow(2).sum(-1).sqrt()


def _nearest_other(q: torch.Tensor, yq: torch.Tensor, r: torch.Tensor, yr: torch.Tensor,
                   norm: str, cap: float, symmetric: bool,
                   chunk_elements: int = 1 << 24) -> tuple[torch.Tensor, float]:
    """Per query: exact distance to the nearest differently-labelled reference if below
    ``cap`` (else +inf); plus the exact global minimum over all such pairs."""
    levels = _levels(tuple(q.shape[1:]), norm)
    qs = [_pooled(q, lv, norm, k == 0) for k, lv in enumerate(levels)]
    rs = qs if symmetric else [_pooled(r, lv, norm, k == 0) for k, lv in enumerate(levels)]
    nq, nr = q.shape[0], r.shape[0]
    best_q = torch.full((nq,), math.inf, dtype=torch.float64)
    glob = _upper_start(q, yq, r, yr, norm)
    d0 = qs[0].shape[1]
    rows = max(1, min(nq, 256))
    cols = max(1, chunk_elements // (rows * d0))
    # float32 screens: shave a margin (relative to the data's scale) off every lower bound
    slack = 1e-5 * max(1.0, float(q.abs().max()), float(r.abs().max())) * (
        1.0 if norm == "linf" else math.sqrt(q[0].numel()))
    for i in range(0, nq, rows):
        qi = slice(i, min(i + rows, nq))
        j_start = i if symmetric else 0
        for j in range(j_start, nr, cols):
            rj = slice(j, min(j + cols, nr))
            lim = max(cap, glob)
            thr_q = torch.minimum(best_q[qi], torch.tensor(lim, dtype=torch.float64))
            thr = thr_q[:, None].expand(-1, rj.stop - rj.start)
            if symmetric:
                thr_r = torch.minimum(best_q[rj], torch.tensor(lim, dtype=torch.float64))
                thr = torch.maximum(thr, thr_r[None, :])
            lb = _dense(qs[0][qi], rs[0][rj], norm).to(torch.float64)
            lb = lb * levels[0].scale - slack
            ok = (lb < thr) & (yq[qi, None] != yr[None, rj])
            pairs = ok.nonzero()
            if pairs.numel() == 0:
                continue
            a = pairs[:, 0] + i
            b = pairs[:, 1] + j
            t = thr[pairs[:, 0], pairs[:, 1]]
            for lv, qf, rf in zip(levels[1:], qs[1:], rs[1:], strict=True):
                exact = lv.pool == 1
                d = torch.cat([_dist(_cast(qf[a[s:s + 65536]], exact),
                                     _cast(rf[b[s:s + 65536]], exact), norm)
                               for s in range(0, a.numel(), 65536)]).to(torch.float64)
                if lv.pool != 1:
                    d = d * lv.scale - slack
                keep = d < t
                a, b, t, d = a[keep], b[keep], t[keep], d[keep]
                if a.numel() == 0:
                    break
            if a.numel() == 0:
                continue
            if len(levels) == 1:
                d = torch.cat([_dist(qs[-1][a[s:s + 65536]].double(),
                                     rs[-1][b[s:s + 65536]].double(), norm)
                               for s in range(0, a.numel(), 65536)])
            glob = min(glob, float(d.min()))
            best_q.scatter_reduce_(0, a, d, reduce="amin")
            if symmetric:
                best_q.scatter_reduce_(0, b, d, reduce="amin")
    out = best_q.clone()
    out[(out >= cap) & (out > glob)] = math.inf  # above the cap only upper bounds are known
    return out, glob


def nearest_other_distances(queries: torch.Tensor, query_labels: torch.Tensor,
                            reference: torch.Tensor | None, reference_labels: torch.Tensor | None,
                            *, norm: str = "linf", cap: float = math.inf) -> tuple[torch.Tensor,
                                                                                    float]:
    """Exact distance from each query to its nearest reference point with another label.

    ``reference=None`` compares the queries with each other. Returns ``(per_query, minimum)``:
    per-query distances are exact when below ``cap`` and ``+inf`` otherwise (the global
    minimum over all differently-labelled pairs is always exact; ``+inf`` if no such pair).
    """
    if norm not in NORMS:
        raise choice_error("norm", norm, list(NORMS))
    if not (cap >= 0):
        raise CertkitError(f"cap must be >= 0, got {cap!r}")
    sym = reference is None
    ref = queries if sym else reference
    ref_y = query_labels if sym else reference_labels
    if ref_y is None or ref.shape[0] != ref_y.shape[0] or queries.shape[0] != \
            query_labels.shape[0]:
        raise CertkitError("every point needs exactly one label")
    if tuple(ref.shape[1:]) != tuple(queries.shape[1:]):
        raise CertkitError(f"query shape {tuple(queries.shape[1:])} differs from reference "
                           f"shape {tuple(ref.shape[1:])}")
    if queries.shape[0] == 0 or ref.shape[0] == 0:
        raise CertkitError("separation needs non-empty sets of points")
    if not (torch.isfinite(queries).all() and torch.isfinite(ref).all()):
        raise CertkitError("points contain NaN or infinity")
    x = queries.detach().cpu().float()
    r = x if sym else ref.detach().cpu().float()
    per, glob = _nearest_other(x, query_labels.cpu(), r, ref_y.cpu(), norm, cap, sym)
    return per, glob


def separation(data: str = "mnist", *, norm: str = "linf", eps: float = 0.1,
               data_dir: str | Path | None = None, train_size: int | None = None,
               test_size: int | None = None, out: str | Path = "separation") -> dict[str, Any]:
    """Train-train and test-train separation of dataset ``data`` (Table 2 of the paper).

    Writes ``<out>/analysis/separation-<data>-<norm>.{csv,png,json}``; returns the summary.
    """
    from ..data import load_dataset

    if not math.isfinite(eps) or eps < 0:
        raise CertkitError(f"eps must be a finite number >= 0, got {eps}")
    if norm not in NORMS:
        raise choice_error("norm", norm, list(NORMS))
    splits = load_dataset(data, data_dir=data_dir, train_size=train_size, test_size=test_size)
    cap = 4 * eps
    start = time.perf_counter()
    tt, tt_min = nearest_other_distances(splits.train.x, splits.train.y, None, None,
                                         norm=norm, cap=cap)
    t_tt = time.perf_counter() - start
    te, te_min = nearest_other_distances(splits.test.x, splits.test.y, splits.train.x,
                                         splits.train.y, norm=norm, cap=cap)
    t_te = time.perf_counter() - start - t_tt
    rows = []
    for name, per, mn, secs in (("train-train", tt, tt_min, t_tt),
                                ("test-train", te, te_min, t_te)):
        close = int((per < 2 * eps).sum())
        rows.append({"pairs": name, "norm": norm, "eps": eps, "min_separation": mn,
                     "points": int(per.numel()), "closer_than_2eps": close,
                     "fraction_closer_than_2eps": close / per.numel(),
                     "r_separated_at_eps": bool(mn >= 2 * eps), "seconds": secs})
    stem = f"separation-{splits.info.name}-{norm}"
    csv_path = write_csv(analysis_path(out, stem, ".csv"), rows)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    grid = torch.linspace(0, cap, 81, dtype=torch.float64) if cap > 0 else torch.zeros(1)
    for name, per in (("train-train", tt), ("test-train", te)):
        ax.plot(grid.numpy(), [float((per < g).double().mean()) for g in grid], label=name)
    ax.axvline(2 * eps, color="grey", linestyle="--", label="2 eps")
    ax.set_xlabel(f"{norm} distance to nearest differently-labelled training point")
    ax.set_ylabel("fraction of points closer")
    ax.set_title(f"{splits.info.name}: separation")
    ax.legend()
    png = save_figure(fig, analysis_path(out, stem, ".png"))
    summary = {"data": splits.info.name, "norm": norm, "eps": eps,
               "train_train_min": tt_min, "test_train_min": te_min,
               "train_closer_than_2eps": rows[0]["closer_than_2eps"],
               "test_closer_than_2eps": rows[1]["closer_than_2eps"],
               "train_points": rows[0]["points"], "test_points": rows[1]["points"],
               "seconds": time.perf_counter() - start, "csv": str(csv_path), "png": str(png)}
    write_json_atomic(analysis_path(out, stem, ".json"), summary)
    return summary
