"""``certkit eval``: clean accuracy of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def eval_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    data: Annotated[str | None, typer.Option(help="Evaluate on another dataset.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    split: Annotated[str, typer.Option(help="test, train or val.")] = "test",
    n: Annotated[int | None, typer.Option(help="Only the first N examples.")] = None,
    batch_size: Annotated[int, typer.Option(help="Inference batch size.")] = 1024,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Clean accuracy of a trained run on its test set (or another dataset/split)."""
    from ..evaluation import evaluate

    summary = run_guarded(lambda: evaluate(run, data=data, data_dir=data_dir, split=split, n=n,
                                           batch_size=batch_size, device=device), debug)
    emit(summary, json, "certkit eval")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("eval")(eval_command)
