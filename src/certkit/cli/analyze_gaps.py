"""``certkit analyze gaps``: train/test clean and adversarial accuracy and their gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def gaps_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    eps: Annotated[float | None, typer.Option(help="PGD radius (default: the run's eps).")]
    = None,
    steps: Annotated[int, typer.Option(help="PGD steps.")] = 20,
    restarts: Annotated[int, typer.Option(help="PGD restarts.")] = 1,
    n_train: Annotated[int | None, typer.Option(help="First N training points.")] = 2000,
    n_test: Annotated[int | None, typer.Option(help="First N test points.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Samples per batch.")] = 256,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attack.")] = 0,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Clean and PGD accuracy on train and test, and the generalisation gaps."""

    def go() -> dict[str, Any]:
        from ..analysis.gaps import gaps_run

        return gaps_run(run, eps=eps, steps=steps, restarts=restarts, n_train=n_train,
                        n_test=n_test, batch_size=batch_size, data_dir=data_dir,
                        device=device, seed=seed)

    emit(run_guarded(go, debug), json_out, title="generalisation gaps")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze gaps``."""
    group.command("gaps")(gaps_command)
