"""``certkit analyze box-growth``: per-layer growth rate of IBP box radii (SABR Table 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def box_growth_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    eps: Annotated[float | None, typer.Option(help="Input box radius (default: run's eps).")]
    = None,
    n: Annotated[int | None, typer.Option("--n", help="First N test points.")] = 200,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Growth rate kappa = mean output radius / mean input radius of every layer."""

    def go() -> dict[str, Any]:
        from ..analysis.diagnostics import box_growth_run

        return box_growth_run(run, eps=eps, n=n, data_dir=data_dir, device=device)

    emit(run_guarded(go, debug), json_out, title="box growth")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze box-growth``."""
    group.command("box-growth")(box_growth_command)
