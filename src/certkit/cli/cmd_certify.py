"""``certkit certify``: incomplete certification of a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded


def certify_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `certkit train`.")],
    eps: Annotated[float | None, typer.Option(
        help="Radius of the perturbation ball (pixel scale); for bias fields, brightness and "
             "contrast the coefficient radius as a fraction (0.1 = the paper's 10). Required "
             "except for --method smoothing.")] = None,
    method: Annotated[str, typer.Option(
        help="ibp, crown (deeppoly), ssip, crown-ibp, rsip-ssip, alpha-crown, or smoothing "
             "(randomized smoothing, L2 radii).")] = "crown",
    spec: Annotated[str, typer.Option(
        help="Perturbation set: linf, l2, biasfield, brightness or contrast.")] = "linf",
    order: Annotated[int, typer.Option(help="Bias-field polynomial order (--spec biasfield).")
                     ] = 3,
    field: Annotated[str, typer.Option(
        help="Bias fields of --spec biasfield: multiplicative, additive or both.")
        ] = "multiplicative",
    n: Annotated[int | None, typer.Option(help="Only the first N test examples.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples bounded together.")] = 100,
    out: Annotated[Path | None, typer.Option(
        help="Per-sample JSONL (default: <run>/certify-<method>-<spec>-eps<eps>.jsonl).")] = None,
    alpha_iterations: Annotated[int, typer.Option(help="alpha-CROWN optimisation steps.")] = 20,
    alpha_lr: Annotated[float, typer.Option(help="alpha-CROWN learning rate.")] = 0.5,
    sigma: Annotated[float | None, typer.Option(
        help="Smoothing: standard deviation of the Gaussian noise.")] = None,
    n0: Annotated[int, typer.Option(help="Smoothing: selection samples.")] = 100,
    n_samples: Annotated[int, typer.Option(
        help="Smoothing: estimation samples (Cohen et al.'s n).")] = 100_000,
    alpha: Annotated[float, typer.Option(help="Smoothing: failure probability.")] = 0.001,
    seed: Annotated[int, typer.Option(help="Smoothing: noise seed.")] = 0,
    device: DeviceOpt = "cpu",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Certify a run's test samples: clean accuracy, certified accuracy, time per sample."""

    def go() -> dict[str, object]:
        from ..bounds import BoundOptions
        from ..errors import CertkitError
        from ..verify import certify_run

        if method == "smoothing":
            from ..verify import smoothing_run

            if sigma is None:
                raise CertkitError("--method smoothing needs --sigma")
            return smoothing_run(run, sigma=sigma, n0=n0, n=n_samples, alpha=alpha, num=n,
                                 batch_size=max(batch_size, 1000), data_dir=data_dir,
                                 device=device, seed=seed, out=out)
        if eps is None:
            raise CertkitError(f"--method {method} needs --eps")
        if alpha_iterations < 0 or not alpha_lr > 0:
            raise CertkitError("alpha iterations must be >= 0 and the learning rate > 0")
        opts = BoundOptions(alpha_iterations=alpha_iterations, alpha_lr=alpha_lr)
        return certify_run(run, method=method, eps=eps, spec=spec, n=n, data_dir=data_dir,
                           device=device, batch_size=batch_size, out=out, options=opts,
                           order=order, field=field)

    summary = run_guarded(go, debug)
    emit(summary, json, "certkit certify")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("certify")(certify_command)
