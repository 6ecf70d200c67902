"""Standard and robust loss over propagation-region ratios lambda (SABR Figure 8).

For each ``lambda`` the region is the Linf ball of radius ``lambda * eps`` centred at the
clean sample (clipped to [0, 1]), as in the paper's loss analysis. The robust loss is the
cross-entropy of the worst-case logits from lower bounds of the margins ``z_y - z_j``: with
``ibp`` (the paper's BOX; the last linear layer folded into the margins, as in training) and
``crown`` (DeepPoly). The standard loss is the clean CE; every robust loss is >= it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...bounds import get_method, propagate
from ...errors import CertkitError
from ...report.figures import analysis_path, new_figure, save_figure, write_csv
from ...runs import Run, write_json_atomic
from ...specs import LinfBall
from ...train.methods.certified import ibp_margins, margin_rows, robust_cross_entropy
from .common import open_run, run_eps, run_points

DEFAULT_LAMBDAS = (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)


def robust_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float,
                method: str) -> float:
    """Robust CE over the Linf ball of ``radius`` around ``x`` with bound ``method``."""
    spec = LinfBall(x, radius)
    with torch.no_grad():
        if get_method(method).name == "ibp":
            margins = ibp_margins(propagate(model, spec, method="ibp"), y)
        else:
            c = margin_rows(y, int(model(x[:1]).shape[1]), x.dtype)
            margins = propagate(model, spec, method=method, C=c, which="lower").lower
        return float(robust_cross_entropy(margins, y))


def loss_vs_lambda(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS,
                   methods: Sequence[str] = ("ibp", "crown")) -> list[dict[str, Any]]:
    """Rows ``(lambda, method, loss)``; method ``standard`` is the clean CE (same per lambda)."""
    if not lambdas or any(not (0 < lam <= 1) for lam in lambdas):
        raise CertkitError(f"lambdas must lie in (0, 1], got {list(lambdas)}")
    with torch.no_grad():
        std = float(F.cross_entropy(model(x), y))
    rows = []
    for lam in lambdas:
        rows.append({"lambda": float(lam), "method": "standard", "loss": std})
        for m in methods:
            rows.append({"lambda": float(lam), "method": m,
                         "loss": robust_loss(model, x, y, lam * eps, m)})
    return rows


def loss_vs_lambda_run(run: str | Path | Run, *, eps: float | None = None,
                       lambdas: Sequence[float] = DEFAULT_LAMBDAS,
                       methods: Sequence[str] = ("ibp", "crown"), n: int | None = 200,
                       data_dir: str | Path | None = None,
                       device: str = "cpu") -> dict[str, Any]:
    """:func:`loss_vs_lambda` on the first ``n`` test points; CSV + PNG (log y axis)."""
    opened = open_run(run, device)
    eps = run_eps(opened, eps)
    x, y = run_points(opened, n, "test", data_dir)
    dev = next(opened.model.parameters()).device
    rows = loss_vs_lambda(opened.model, x.to(dev), y.to(dev), eps, lambdas, methods)
    stem = f"loss-vs-lambda-eps{eps:g}"
    csv_path = write_csv(analysis_path(opened.path, stem, ".csv"), rows)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for m in ("standard", *methods):
        pts = [(r["lambda"], r["loss"]) for r in rows if r["method"] == m]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=m)
    ax.set_yscale("log")
    ax.set_xlabel("propagation region ratio lambda (radius = lambda * eps)")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"loss vs lambda, eps={eps:g}")
    ax.legend()
    png = save_figure(fig, analysis_path(opened.path, stem, ".png"))
    summary: dict[str, Any] = {"run": str(opened.path), "eps": eps, "n": int(x.shape[0])}
    for r in rows:
        if r["method"] != "standard":
            summary[f"{r['method']}@{r['lambda']:g}"] = r["loss"]
    summary["standard"] = rows[0]["loss"]
    summary.update(csv=str(csv_path), png=str(png))
    write_json_atomic(analysis_path(opened.path, stem, ".json"), {**summary, "rows": rows})
    return summary
