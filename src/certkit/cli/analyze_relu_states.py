"""``certkit analyze relu-states``: active / inactive / unstable ReLUs (SABR Table 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def relu_states_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    eps: Annotated[float | None, typer.Option(help="Region radius (default: run's eps).")]
    = None,
    n: Annotated[int | None, typer.Option("--n", help="First N test points.")] = 200,
    method: Annotated[str, typer.Option(help="Bounds of the region: ibp or crown.")] = "ibp",
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Percentages of ReLU states at the clean points and over the Linf eps-regions."""

    def go() -> dict[str, Any]:
        from ..analysis.diagnostics import relu_states_run

        return relu_states_run(run, eps=eps, n=n, method=method, data_dir=data_dir,
                               device=device)

    emit(run_guarded(go, debug), json_out, title="ReLU states")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze relu-states``."""
    group.command("relu-states")(relu_states_command)
