"""``certkit certify``: incomplete certification of a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def certify_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    eps: Annotated[float, typer.Option(help="Radius of the perturbation ball (pixel scale).")],
    method: Annotated[str, typer.Option(
        help="ibp, crown (deeppoly), ssip, crown-ibp, rsip-ssip or alpha-crown.")] = "crown",
    spec: Annotated[str, typer.Option(help="Perturbation set: linf or l2.")] = "linf",
    n: Annotated[int | None, typer.Option(help="Only the first N test examples.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples bounded together.")] = 100,
    out: Annotated[Path | None, typer.Option(
        help="Per-sample JSONL (default: <run>/certify-<method>-<spec>-eps<eps>.jsonl).")] = None,
    alpha_iterations: Annotated[int, typer.Option(help="alpha-CROWN optimisation steps.")] = 20,
    alpha_lr: Annotated[float, typer.Option(help="alpha-CROWN learning rate.")] = 0.5,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Certify a run's test samples: clean accuracy, certified accuracy, time per sample."""

    def go() -> dict[str, object]:
        from ..bounds import BoundOptions
        from ..errors import CertkitError
        from ..verify import certify_run

        if alpha_iterations < 0 or not alpha_lr > 0:
            raise CertkitError("alpha iterations must be >= 0 and the learning rate > 0")
        opts = BoundOptions(alpha_iterations=alpha_iterations, alpha_lr=alpha_lr)
        return certify_run(run, method=method, eps=eps, spec=spec, n=n, data_dir=data_dir,
                           device=device, batch_size=batch_size, out=out, options=opts)

    summary = run_guarded(go, debug)
    emit(summary, json, "certkit certify")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("certify")(certify_command)
