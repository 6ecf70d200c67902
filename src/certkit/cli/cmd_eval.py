"""``certkit eval``: clean accuracy of a run; with ``--all`` also PGD-robust and certified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def _eps_values(values: list[str] | None) -> list[float] | None:
    if not values:
        return None
    try:
        return [float(v) for item in values for v in item.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter("eps must be numbers, e.g. --eps 0.1 --eps 0.3") from None


def eval_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    data: Annotated[str | None, typer.Option(help="Evaluate on another dataset.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    split: Annotated[str, typer.Option(help="test, train or val.")] = "test",
    n: Annotated[int | None, typer.Option(help="Only the first N examples.")] = None,
    batch_size: Annotated[int, typer.Option(help="Inference batch size.")] = 1024,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Also PGD-robust, IBP- and CROWN-certified accuracy at the "
                                   "training eps and every --eps."),
    ] = False,
    eps: Annotated[
        list[str] | None,
        typer.Option(help="Extra eps for --all (repeat or comma-separate)."),
    ] = None,
    pgd_steps: Annotated[int, typer.Option(help="PGD steps (--all).")] = 50,
    pgd_restarts: Annotated[int, typer.Option(help="PGD restarts (--all).")] = 5,
    pgd_targeted: Annotated[
        bool, typer.Option(help="Targeted PGD on every other class (--all; slower).")
    ] = False,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Clean accuracy of a trained run on its test set (or another dataset/split)."""
    from ..evaluation import evaluate

    summary = run_guarded(lambda: evaluate(
        run, data=data, data_dir=data_dir, split=split, n=n, batch_size=batch_size,
        device=device, all=all_, eps=_eps_values(eps), pgd_steps=pgd_steps,
        pgd_restarts=pgd_restarts, pgd_targeted=pgd_targeted), debug)
    emit(summary, json, "certkit eval")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("eval")(eval_command)
