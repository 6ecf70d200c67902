"""``certkit sweep``: certification ROC (CCR/CIR, TPR/FPR, AUC) of runs over an eps grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def sweep_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (overlaid in one plot).")],
    method: Annotated[str, typer.Option(
        help="Bound method (ibp, crown, ...) or pgd (an upper bound).")] = "crown",
    eps_max: Annotated[float, typer.Option(help="Largest eps of the grid.")] = 0.2,
    points: Annotated[int, typer.Option(help="Grid points from 0 to eps-max.")] = 4000,
    n: Annotated[int | None, typer.Option(help="Only the first N test examples.")] = None,
    target_cir: Annotated[float, typer.Option(help="Report the eps meeting this CIR.")] = 0.01,
    shifts: Annotated[str, typer.Option(
        help="Comma-separated shifted test sets: blur, rotation, scaling.")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the shift sizes.")] = 0,
    bracket: Annotated[bool, typer.Option(
        help="Bracket each search with a cheap PGD bisection first.")] = True,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Samples per verifier call (default 8 for bounds, 256 for pgd).")] = None,
    workers: Annotated[int, typer.Option(
        help="Processes searching chunks of the samples (CPU; e.g. the number of cores).")] = 1,
    search: Annotated[str, typer.Option(
        help="interpolate (on the bound margins) or bisection (yes/no verdicts).")] =
        "interpolate",
    precision: Annotated[str, typer.Option(
        help="mixed (float32 bounds, float64 near zero margins) or float64.")] = "mixed",
    out: Annotated[Path | None, typer.Option(help="Folder of the multi-run plots.")] = None,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Max certified eps per sample (interpolating search), then the exact ROC over the grid."""

    def go() -> dict[str, object]:
        from ..analysis.sweep import sweep

        res = sweep(runs, method=method, eps_max=eps_max, points=points, n=n,
                    data_dir=data_dir, device=device, batch_size=batch_size,
                    target_cir=target_cir, seed=seed, out=out, bracket=bracket,
                    workers=workers, search=search, precision=precision,
                    shifts=[s.strip() for s in shifts.split(",") if s.strip()])
        flat: dict[str, object] = {"method": res["method"], "points": res["points"]}
        for label, s in res["runs"].items():
            for k in ("accuracy", "auc", "eps_at_target_cir", "ccr_at_target_cir",
                      "calls_per_sample", "seconds"):
                flat[f"{label}.{k}"] = s.get(k)
        for k in ("compare_png", "compare_shifts_csv"):
            if k in res:
                flat[k] = res[k]
        return flat if not json else res

    emit(run_guarded(go, debug), json, "certkit sweep")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("sweep")(sweep_command)
