"""Per-layer growth of IBP box radii (SABR section 4, Table 9).

For a box of radius ``delta^{i-1}`` entering layer ``i``, the growth rate is ``kappa^i =
E[delta^i] / delta^{i-1}`` (means over neurons and samples). A linear layer maps a box of
uniform radius ``delta`` to radii ``|W| delta``, so its growth is the mean row-wise L1 norm
``mean_j ||W_j||_1`` (reported as ``row_l1`` beside the measured value; for a convolution
the kernel's L1 norm per output channel, exact away from the zero padding). ReLU layers
shrink boxes (between the active fraction and 1/2). The input box is ``[x - eps, x + eps]``
*without* clipping to [0, 1], so its radius is uniform, as the paper assumes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...bounds import propagate
from ...report.figures import analysis_path, new_figure, save_figure, write_csv
from ...runs import Run, write_json_atomic
from ...specs import Box
from .common import check_eps, open_run, run_eps, run_points


def _row_l1(op: Any) -> float | None:
    kind = getattr(op, "kind", "")
    if kind not in ("linear", "conv2d"):
        return None
    w = op.weight.detach()
    return float(w.abs().flatten(1).sum(1).mean())


def box_growth(model: nn.Module, x: torch.Tensor, eps: float) -> list[dict[str, Any]]:
    """One row per layer of ``model``'s bound graph: mean radii in/out and growth ``kappa``."""
    eps = check_eps(eps, positive=True)
    with torch.no_grad():
        res = propagate(model, Box(x - eps, x + eps), method="ibp")
    g = res.graph
    rad = {i: ((hi - lo) / 2).flatten(1).double() for i, (lo, hi) in res.nodes.items()}
    rows = []
    total = 1.0
    for node in g.nodes[1:]:
        if node.op is None or node.index not in rad or node.inputs[0] not in rad:
            continue
        if node.op.kind == "reshape":
            continue
        r_in = float(rad[node.inputs[0]].mean())
        r_out = float(rad[node.index].mean())
        kappa = r_out / r_in if r_in > 0 else math.nan
        if math.isfinite(kappa):
            total *= kappa
        rows.append({"layer": node.name, "kind": node.op.kind, "radius_in": r_in,
                     "radius_out": r_out, "kappa": kappa, "row_l1": _row_l1(node.op),
                     "cumulative_kappa": total})
    return rows


def box_growth_run(run: str | Path | Run, *, eps: float | None = None, n: int | None = 200,
                   data_dir: str | Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """:func:`box_growth` on the first ``n`` test points; CSV + PNG in ``<run>/analysis``."""
    opened = open_run(run, device)
    eps = run_eps(opened, eps)
    x, _ = run_points(opened, n, "test", data_dir)
    dev = next(opened.model.parameters()).device
    rows = box_growth(opened.model, x.to(dev), eps)
    stem = f"box-growth-eps{eps:g}"
    csv_path = write_csv(analysis_path(opened.path, stem, ".csv"),
                         rows, columns=list(rows[0]) if rows else ["layer"])
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(rows)), [r["kappa"] for r in rows])
    ax.set_xticks(range(len(rows)), [f"{r['layer']}\n{r['kind']}" for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linestyle="--")
    ax.set_ylabel("growth rate kappa")
    ax.set_title(f"IBP box growth per layer, eps={eps:g}")
    png = save_figure(fig, analysis_path(opened.path, stem, ".png"))
    summary = {"run": str(opened.path), "eps": eps, "n": int(x.shape[0]),
               "total_kappa": rows[-1]["cumulative_kappa"] if rows else 1.0,
               **{f"kappa[{r['layer']}:{r['kind']}]": r["kappa"] for r in rows},
               "csv": str(csv_path), "png": str(png)}
    write_json_atomic(analysis_path(opened.path, stem, ".json"), {**summary, "rows": rows})
    return summary
