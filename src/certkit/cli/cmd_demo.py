"""``certkit demo``: everything end to end on the offline digits dataset."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, console, out_console, run_guarded


def demo_command(
    out: Annotated[Path, typer.Option(help="Directory for the demo runs.")] = Path("runs/demo"),
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    device: DeviceOpt = "cpu",
    threads: Annotated[int, typer.Option(help="Torch intra-op threads for the demo.")] = 1,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train, evaluate (and more as certkit grows) on digits, offline, in minutes."""
    from ..demos import demo

    summary = run_guarded(
        lambda: demo(out, data_dir=data_dir, device=device, threads=threads, progress=not json,
                     log=None if json else lambda m: console.print(f"[bold cyan]{m}")),
        debug,
    )
    if json:
        typer.echo(jsonlib.dumps(summary))
        return
    out_console.print("[bold]certkit demo summary[/]")
    for step, res in summary.items():
        if isinstance(res, dict):
            vals = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in res.items())
            out_console.print(f"  {step}: {vals}")
    out_console.print(f"  total {summary['seconds']:.1f} s; runs in {summary['run_dir']}/")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("demo")(demo_command)
