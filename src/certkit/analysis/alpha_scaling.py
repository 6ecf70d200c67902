"""Far from the data (Franco et al., Theorem 4.1 and Figure 4): certify ``alpha * x``.

For a ReLU network, ``alpha * x`` eventually stays in one linear region as ``alpha`` grows,
where the network is affine; the prediction is then robust on an Linf ball whose radius
grows linearly with ``alpha``. This study computes the largest certified eps of
``alpha * x`` (no [0, 1] clipping: the points leave the image domain on purpose) for a few
test images and a range of ``alpha``, and writes ``alpha-scaling.csv`` / ``.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import CertkitError
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import load_run
from .max_eps import eps_grid, max_robust_eps

DEFAULT_ALPHAS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


def alpha_scaling(run: str | Path, *, alphas: Sequence[float] = DEFAULT_ALPHAS, n: int = 5,
                  method: str = "crown", rel_eps_max: float = 0.5, points: int = 2000,
                  data_dir: str | Path | None = None) -> dict[str, Any]:
    """Max certified eps of ``alpha * x`` for the first ``n`` test images.

    For each alpha the eps grid is ``points`` values up to ``alpha * rel_eps_max`` (a radius
    at the top of the grid is reported as ``capped``).
    """
    if not alphas or any(not a > 0 for a in alphas):
        raise CertkitError("alphas must be a non-empty list of positive numbers")
    if n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    if not rel_eps_max > 0:
        raise CertkitError(f"rel_eps_max must be > 0, got {rel_eps_max}")
    r = load_run(run)
    x = r.load_data(data_dir).test.x[:n]
    rows: list[dict[str, Any]] = []
    for a in sorted(float(v) for v in alphas):
        grid = eps_grid(a * rel_eps_max, points)
        res = max_robust_eps(r.model, a * x, method, grid=grid, domain=None)
        for i in range(x.shape[0]):
            rows.append({"alpha": a, "sample": i, "predicted": int(res.pred[i]),
                         "eps": float(res.radius()[i].clamp_min(0.0)),
                         "capped": bool(res.index[i] == grid.numel() - 1)})
    write_csv(analysis_path(r.path, "alpha-scaling", ".csv"), rows)
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for i in range(x.shape[0]):
        pts = [(row["alpha"], row["eps"]) for row in rows if row["sample"] == i]
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"test image {i}")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)  # log scale that still shows radius 0
    ax.set(xlabel="alpha", ylabel="max certified eps",
           title=f"certified radius of alpha * x ({method})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, analysis_path(r.path, "alpha-scaling", ".png"))
    first = [row for row in rows if row["alpha"] == min(alphas)]
    last = [row for row in rows if row["alpha"] == max(alphas)]
    return {"run": str(r.path), "method": method, "alphas": sorted(alphas), "n": n,
            "mean_eps_first": float(torch.tensor([q["eps"] for q in first]).mean()),
            "mean_eps_last": float(torch.tensor([q["eps"] for q in last]).mean()),
            "rows": rows}
