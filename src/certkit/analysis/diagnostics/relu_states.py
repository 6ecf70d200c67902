"""Active / inactive / unstable ReLUs for points and for whole regions (SABR Table 4).

*Point*: the pre-activation at the clean input is > 0 (active) or <= 0 (inactive).
*Region*: with bounds ``[l, u]`` of the pre-activation over the Linf eps-ball (IBP by
default, the paper's BOX; or CROWN), ``l > 0`` is stably active, ``u <= 0`` stably inactive,
anything else unstable. Percentages are over all ReLU neurons and samples (per layer too);
each triple sums to 100.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...bounds import propagate
from ...report.figures import analysis_path, new_figure, save_figure, write_csv
from ...runs import Run, write_json_atomic
from ...specs import Box, LinfBall
from .common import check_eps, open_run, run_eps, run_points


def _states(lo: torch.Tensor, hi: torch.Tensor) -> tuple[int, int, int]:
    act = int((lo > 0).sum())
    inact = int((hi <= 0).sum())
    return act, inact, lo.numel() - act - inact


def relu_states(model: nn.Module, x: torch.Tensor, eps: float,
                method: str = "ibp") -> list[dict[str, Any]]:
    """Rows per ReLU layer plus an ``all`` row: point and region state percentages."""
    eps = check_eps(eps)
    with torch.no_grad():
        point = propagate(model, Box(x, x), method="ibp").pre_activation_bounds()
        region = propagate(model, LinfBall(x, eps), method=method).pre_activation_bounds()
    rows = []
    tot = [0] * 6
    for (name, pl, _), (_, rl, ru) in zip(point, region, strict=True):
        p_act, p_inact, _ = _states(pl, pl)
        counts = [p_act, p_inact, *_states(rl, ru), pl.numel()]
        tot = [a + b for a, b in zip(tot, [*counts], strict=False)]
        rows.append(_row(name, counts))
    rows.append(_row("all", tot))
    return rows


def _row(name: str, c: list[int]) -> dict[str, Any]:
    n = max(c[5], 1)
    return {"layer": name, "neurons": c[5],
            "point_active": 100 * c[0] / n, "point_inactive": 100 * c[1] / n,
            "region_active": 100 * c[2] / n, "region_inactive": 100 * c[3] / n,
            "region_unstable": 100 * c[4] / n}


def relu_states_run(run: str | Path | Run, *, eps: float | None = None, n: int | None = 200,
                    method: str = "ibp", data_dir: str | Path | None = None,
                    device: str = "cpu") -> dict[str, Any]:
    """:func:`relu_states` on the first ``n`` test points; CSV + PNG in ``<run>/analysis``."""
    opened = open_run(run, device)
    eps = run_eps(opened, eps)
    x, _ = run_points(opened, n, "test", data_dir)
    dev = next(opened.model.parameters()).device
    rows = relu_states(opened.model, x.to(dev), eps, method)
    stem = f"relu-states-{method}-eps{eps:g}"
    csv_path = write_csv(analysis_path(opened.path, stem, ".csv"), rows)
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    labels = [r["layer"] for r in rows]
    pos = range(len(rows))
    bottom = [0.0] * len(rows)
    for key, colour in (("region_active", "tab:green"), ("region_inactive", "tab:grey"),
                        ("region_unstable", "tab:red")):
        vals = [r[key] for r in rows]
        ax.bar(pos, vals, bottom=bottom, color=colour, label=key.split("_")[1])
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.plot(pos, [r["point_active"] for r in rows], "k^", label="point active")
    ax.set_xticks(pos, labels, fontsize=7)
    ax.set_ylabel("% of ReLUs")
    ax.set_title(f"ReLU states over the eps={eps:g} region ({method}) and at points")
    ax.legend(fontsize=7)
    png = save_figure(fig, analysis_path(opened.path, stem, ".png"))
    summary = {"run": str(opened.path), "eps": eps, "method": method, "n": int(x.shape[0]),
               **{k: v for k, v in rows[-1].items() if k not in ("layer",)},
               "csv": str(csv_path), "png": str(png)}
    write_json_atomic(analysis_path(opened.path, stem, ".json"), {**summary, "rows": rows})
    return summary
