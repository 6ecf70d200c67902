"""``certkit analyze lipschitz``: empirical local Lipschitz constant of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def lipschitz_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    eps: Annotated[float, typer.Option(help="Radius of the Linf ball.")] = 0.1,
    n: Annotated[int | None, typer.Option("--n", help="First N points of the split.")] = 1000,
    split: Annotated[str, typer.Option(help="test or train.")] = "test",
    steps: Annotated[int, typer.Option(help="Ascent steps per restart.")] = 10,
    restarts: Annotated[int, typer.Option(help="Random restarts.")] = 1,
    output: Annotated[str, typer.Option(help="logits or probs.")] = "logits",
    batch_size: Annotated[int, typer.Option(help="Samples per batch.")] = 256,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random starts.")] = 0,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Mean of max ||f(x) - f(x')||_1 / ||x - x'||_inf over the eps-ball (Yang et al.)."""

    def go() -> dict[str, Any]:
        from ..analysis.lipschitz import lipschitz_run

        return lipschitz_run(run, eps=eps, n=n, split=split, steps=steps, restarts=restarts,
                             output=output, batch_size=batch_size, data_dir=data_dir,
                             device=device, seed=seed)

    emit(run_guarded(go, debug), json_out, title="local Lipschitz estimate")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze lipschitz``."""
    group.command("lipschitz")(lipschitz_command)
