"""``certkit report``: a self-contained HTML page of one or more runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, JsonOpt, emit, run_guarded


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories.")],
    out: Annotated[Path | None, typer.Option(
        help="HTML file (default: <first run>/report.html).")] = None,
    title: Annotated[str, typer.Option(help="Page title.")] = "certkit report",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Tables and plots of everything the run directories hold, in one HTML file."""

    def go() -> dict[str, object]:
        from ..report import build_report

        path = build_report(runs, out, title=title)
        return {"report": str(path), "bytes": path.stat().st_size}

    emit(run_guarded(go, debug), json, "certkit report")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("report")(report_command)
