"""``certkit analyze gradient-alignment``: robust vs CE gradient cosines (SABR Table 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def grad_alignment_command(
    run_a: Annotated[Path, typer.Argument(help="First run directory (e.g. IBP).")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory (e.g. SABR).")],
    eps: Annotated[float | None, typer.Option(help="Radius (default: each run's eps).")]
    = None,
    lam_a: Annotated[float | None, typer.Option(help="Region ratio of run A (default: its "
                                                "sabr_lambda, 1 for others).")] = None,
    lam_b: Annotated[float | None, typer.Option(help="Region ratio of run B.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="First N test points.")] = 500,
    batch_size: Annotated[int, typer.Option(help="Samples per gradient.")] = 100,
    attack_steps: Annotated[int, typer.Option(help="PGD steps for the adversarial points.")]
    = 10,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attack.")] = 0,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Cosine similarity of each run's robust-loss gradient with clean/adversarial CE ones."""

    def go() -> dict[str, Any]:
        from ..analysis.diagnostics import gradient_alignment_run

        return gradient_alignment_run(run_a, run_b, eps=eps, lam_a=lam_a, lam_b=lam_b, n=n,
                                      batch_size=batch_size, attack_steps=attack_steps,
                                      data_dir=data_dir, device=device, seed=seed)

    emit(run_guarded(go, debug), json_out, title="gradient alignment")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze gradient-alignment``."""
    group.command("gradient-alignment")(grad_alignment_command)
