"""``certkit analyze alpha-scaling``: certified radius of alpha * x (Theorem 4.1, Figure 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, JsonOpt, emit, run_guarded


def alpha_scaling_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    alphas: Annotated[str, typer.Option(help="Comma-separated scale factors.")] =
        "1,2,4,8,16,32,64,128",
    n: Annotated[int, typer.Option(help="Test images to scale.")] = 5,
    method: Annotated[str, typer.Option(help="Bound method.")] = "crown",
    rel_eps_max: Annotated[float, typer.Option(
        help="The eps grid for alpha goes up to alpha * this.")] = 0.5,
    points: Annotated[int, typer.Option(help="Grid points per alpha.")] = 2000,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Max certified eps of alpha * x for growing alpha: far-from-data inputs certify."""

    def go() -> dict[str, object]:
        from ..analysis.alpha_scaling import alpha_scaling
        from ..errors import CertkitError

        try:
            values = [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError as err:
            raise CertkitError(f"alphas must be numbers, got {alphas!r}") from err
        res = alpha_scaling(run, alphas=values, n=n, method=method, rel_eps_max=rel_eps_max,
                            points=points, data_dir=data_dir)
        return res if json else {k: v for k, v in res.items() if k != "rows"}

    emit(run_guarded(go, debug), json, "certkit analyze alpha-scaling")


def register(group: typer.Typer) -> None:
    """Add the study to the ``analyze`` group."""
    group.command("alpha-scaling")(alpha_scaling_command)
