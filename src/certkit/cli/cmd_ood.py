"""``certkit ood``: OOD detectors (MSP, ODIN, Mahalanobis, Energy) vs the certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def ood_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    ood: Annotated[str, typer.Option(
        help="Comma-separated OOD sets: a dataset name (fashion-mnist, mnist, ...), "
             "uniform-noise (noise), gaussian-noise, permuted, constant.")] = "uniform-noise",
    detectors: Annotated[str, typer.Option(
        help="Comma-separated: msp, odin, mahalanobis, energy, certificate.")] =
        "msp,odin,mahalanobis,energy,certificate",
    n: Annotated[int | None, typer.Option(help="ID test samples (and as many OOD).")] = None,
    n_fit: Annotated[int, typer.Option(help="Training samples to fit detectors on.")] = 10000,
    n_cert: Annotated[int, typer.Option(help="Samples per side for the certificate.")] = 1000,
    method: Annotated[str, typer.Option(help="Bound method of the certificate.")] = "crown",
    eps_max: Annotated[float, typer.Option(help="Largest eps of the certificate grid.")] = 0.2,
    points: Annotated[int, typer.Option(help="Certificate eps grid points.")] = 4000,
    odin_temperature: Annotated[float, typer.Option(help="ODIN temperature.")] = 1000.0,
    odin_magnitude: Annotated[float, typer.Option(help="ODIN input perturbation.")] = 0.0014,
    maha_magnitude: Annotated[float, typer.Option(
        help="Mahalanobis input preprocessing magnitude.")] = 0.0,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic OOD sets.")] = 0,
    workers: Annotated[int, typer.Option(
        help="Processes for the certificate's searches (CPU).")] = 1,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """AUROC and FPR at 95% TPR of each detector on each OOD set (Table 5 layout)."""

    def go() -> dict[str, object]:
        from ..analysis.ood_run import ood_run

        res = ood_run(run, ood=[s.strip() for s in ood.split(",") if s.strip()],
                      detectors=[d.strip() for d in detectors.split(",") if d.strip()],
                      n=n, n_fit=n_fit, n_cert=n_cert, method=method, eps_max=eps_max,
                      points=points, odin_temperature=odin_temperature,
                      odin_magnitude=odin_magnitude, maha_magnitude=maha_magnitude,
                      data_dir=data_dir, device=device, batch_size=batch_size, seed=seed,
                      workers=workers)
        if json:
            return res
        flat: dict[str, object] = {"accuracy": res["accuracy"]}
        for row in res["table"]:
            for k, v in row.items():
                if k != "detector":
                    flat[f"{row['detector']} {k}"] = v
        return flat

    emit(run_guarded(go, debug), json, "certkit ood")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("ood")(ood_command)
