"""``certkit analyze loss-vs-lambda``: standard and robust loss over region ratios (Fig. 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CertkitError
from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise CertkitError(f"--lambdas must be comma-separated numbers, got {text!r}") from err


def loss_lambda_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    eps: Annotated[float | None, typer.Option(help="Full radius (default: run's eps).")] = None,
    lambdas: Annotated[str, typer.Option(help="Comma-separated ratios in (0, 1].")]
    = "0.0125,0.025,0.05,0.1,0.2,0.4,0.6,0.8,1",
    methods: Annotated[str, typer.Option(help="Comma-separated bound methods.")] = "ibp,crown",
    n: Annotated[int | None, typer.Option("--n", help="First N test points.")] = 200,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Robust CE (IBP and CROWN bounds) of regions of radius lambda * eps, and the clean CE."""

    def go() -> dict[str, Any]:
        from ..analysis.diagnostics import loss_vs_lambda_run

        ms = [m.strip() for m in methods.split(",") if m.strip()]
        return loss_vs_lambda_run(run, eps=eps, lambdas=_floats(lambdas), methods=ms, n=n,
                                  data_dir=data_dir, device=device)

    emit(run_guarded(go, debug), json_out, title="loss vs lambda")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze loss-vs-lambda``."""
    group.command("loss-vs-lambda")(loss_lambda_command)
