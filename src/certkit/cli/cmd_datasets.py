"""``certkit datasets``: the dataset registry and what is available locally."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import DebugOpt, JsonOpt, out_console, run_guarded


def datasets_info(data_dir: str | Path | None = None) -> dict[str, Any]:
    """Every registered dataset with its shape, classes and local availability."""
    from ..data import dataset_names, dataset_status, default_data_dir, get_info

    rows = []
    for name in dataset_names():
        info = get_info(name)
        ok, message = dataset_status(name, data_dir)
        rows.append({"name": name, "input_shape": list(info.input_shape),
                     "classes": info.num_classes, "available": ok, "status": message,
                     "description": info.description})
    return {"data_dir": str(data_dir or default_data_dir()), "datasets": rows}


def datasets_command(
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the datasets certkit reads and whether their files are present."""
    info = run_guarded(lambda: datasets_info(data_dir), debug)
    if json:
        typer.echo(jsonlib.dumps(info))
        return
    table = Table(title=f"datasets (root: {info['data_dir']})")
    for col in ("name", "shape", "classes", "available", "description"):
        table.add_column(col)
    for r in info["datasets"]:
        table.add_row(r["name"], str(tuple(r["input_shape"])), str(r["classes"]),
                      "yes" if r["available"] else "no", r["description"])
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("datasets")(datasets_command)
