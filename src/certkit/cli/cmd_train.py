"""``certkit train``: train a zoo model with a training method into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..train.config import TrainConfig
from ..train.methods import method_names
from .common import DebugOpt, JsonOpt, emit, run_guarded

Opt = typer.Option
_DEFAULTS = TrainConfig()


def _h(name: str, text: str) -> str:
    """Help text with the default taken from TrainConfig (flags default to 'not given')."""
    return f"{text} (default: {getattr(_DEFAULTS, name)})"


def _milestones(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter("milestones must be comma-separated integers, e.g. 5,8") from None


def train_command(
    data: Annotated[
        str | None, Opt(help=_h("data", "Dataset name (see `certkit datasets`)."))
    ] = None,
    model: Annotated[
        str | None, Opt(help=_h("model", "Architecture (see `certkit models`)."))
    ] = None,
    method: Annotated[
        str | None, Opt(help=_h("method", f"Training method: {', '.join(method_names())}."))
    ] = None,
    eps: Annotated[
        float | None, Opt(help=_h("eps", "Target training eps (Linf, pixel space)."))
    ] = None,
    eps_schedule: Annotated[
        str | None, Opt(help=_h("eps_schedule", "Eps schedule: constant, linear, smoothed."))
    ] = None,
    eps_start_epoch: Annotated[
        int | None, Opt(help=_h("eps_start_epoch", "Epoch the eps schedule starts."))
    ] = None,
    eps_ramp_epochs: Annotated[
        int | None, Opt(help=_h("eps_ramp_epochs", "Epochs of eps ramp-up."))
    ] = None,
    epochs: Annotated[int | None, Opt(help=_h("epochs", "Number of epochs."))] = None,
    batch_size: Annotated[int | None, Opt(help=_h("batch_size", "Batch size."))] = None,
    optimizer: Annotated[str | None, Opt(help=_h("optimizer", "adam or sgd."))] = None,
    lr: Annotated[float | None, Opt(help=_h("lr", "Learning rate."))] = None,
    momentum: Annotated[float | None, Opt(help=_h("momentum", "SGD momentum."))] = None,
    weight_decay: Annotated[float | None, Opt(help=_h("weight_decay", "Weight decay."))] = None,
    lr_schedule: Annotated[
        str | None, Opt(help=_h("lr_schedule", "constant, milestones or cosine."))
    ] = None,
    milestones: Annotated[str | None, Opt(help="Epochs where lr *= gamma, e.g. 5,8.")] = None,
    gamma: Annotated[float | None, Opt(help=_h("gamma", "LR decay factor at milestones."))] = None,
    grad_clip: Annotated[float | None, Opt(help="Clip the gradient norm to this value.")] = None,
    l1: Annotated[float | None, Opt(help=_h("l1", "L1 penalty weight on layer weights."))] = None,
    alpha: Annotated[
        float | None, Opt(help=_h("alpha", "fgsm-at: weight of the clean loss."))
    ] = None,
    fgsm_random_start: Annotated[
        bool | None,
        Opt("--fgsm-random-start/--no-fgsm-random-start",
            help=_h("fgsm_random_start", "fgsm-at: FGSM step from a random point.")),
    ] = None,
    beta: Annotated[
        float | None, Opt(help=_h("beta", "trades: weight of the KL term (1/lambda)."))
    ] = None,
    kappa: Annotated[
        float | None, Opt(help=_h("kappa", "ibp/crown-ibp/sabr: weight of the natural loss."))
    ] = None,
    sabr_lambda: Annotated[
        float | None,
        Opt("--sabr-lambda", "--lambda",
            help=_h("sabr_lambda", "sabr: region radius tau = lambda * eps.")),
    ] = None,
    sigma: Annotated[
        float | None, Opt(help=_h("sigma", "gaussian: std of the input noise."))
    ] = None,
    ood_train: Annotated[
        str | None, Opt(help="oe: outlier training dataset (same input shape).")
    ] = None,
    ood_train_size: Annotated[
        int | None, Opt(help="oe: deterministic subset size of the outlier set.")
    ] = None,
    oe_weight: Annotated[
        float | None, Opt(help=_h("oe_weight", "oe: weight of the outlier loss."))
    ] = None,
    rsip_alpha: Annotated[float | None, Opt(
        help=_h("rsip_alpha", "rsip-ibp/rsip-ssip: weight of the bias-field hinge loss."))
    ] = None,
    bias_order: Annotated[int | None, Opt(
        help=_h("bias_order", "rsip-ibp/rsip-ssip: bias-field order (--eps: its radius)."))
    ] = None,
    bias_field: Annotated[str | None, Opt(
        help=_h("bias_field", "rsip-ibp/rsip-ssip: multiplicative, additive or both."))
    ] = None,
    attack_steps: Annotated[
        int | None, Opt(help=_h("attack_steps", "pgd-at/trades/sabr: inner attack steps."))
    ] = None,
    attack_restarts: Annotated[
        int | None, Opt(help=_h("attack_restarts", "pgd-at/sabr: inner PGD restarts."))
    ] = None,
    attack_step_size: Annotated[
        float | None, Opt(help="Inner attack step as a fraction of eps (default 2.5/steps).")
    ] = None,
    ibp_init: Annotated[
        bool | None,
        Opt("--ibp-init/--no-ibp-init",
            help="Shi et al. 2021 initialisation (default: on for ibp, crown-ibp, sabr)."),
    ] = None,
    warmup_reg: Annotated[
        float | None,
        Opt(help="ibp/crown-ibp/sabr: Shi et al. warm-up regulariser weight (default: 0.5 "
                 "for networks with BatchNorm, 0 without)."),
    ] = None,
    warmup_reg_tol: Annotated[
        float | None, Opt(help=_h("warmup_reg_tol", "Tolerance of the warm-up regularisers."))
    ] = None,
    data_dir: Annotated[str | None, Opt(help=_h("data_dir", "Dataset root."))] = None,
    download: Annotated[
        bool | None,
        Opt("--download/--no-download", help="Fetch missing dataset files (checksummed)."),
    ] = None,
    train_size: Annotated[int | None, Opt(help="Deterministic training subset size.")] = None,
    test_size: Annotated[int | None, Opt(help="Deterministic test subset size.")] = None,
    val_size: Annotated[
        int | None, Opt(help=_h("val_size", "Validation examples split off training."))
    ] = None,
    classes: Annotated[int | None, Opt(help="Keep the first N classes (gtsrb).")] = None,
    seed: Annotated[
        int | None, Opt(help=_h("seed", "Seed for data order and initialisation."))
    ] = None,
    device: Annotated[str | None, Opt(help=_h("device", "Torch device: cpu, cuda, ..."))] = None,
    eval_every: Annotated[
        int | None, Opt(help=_h("eval_every", "Evaluate test accuracy every N epochs."))
    ] = None,
    out: Annotated[str | None, Opt(help=_h("out", "Run directory to write."))] = None,
    config: Annotated[Path | None, Opt(help="YAML file of options; flags override it.")] = None,
    resume: Annotated[Path | None, Opt(help="Continue a killed run from its checkpoint.")] = None,
    overwrite: Annotated[bool, Opt(help="Replace an existing run directory.")] = False,
    progress: Annotated[bool, Opt("--progress/--no-progress", help="Live progress bar.")] = True,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a network; writes config.yaml, metrics.jsonl and a safetensors checkpoint."""
    from ..train import train

    overrides: dict[str, Any] = {
        "data": data,
        "model": model,
        "method": method,
        "eps": eps,
        "eps_schedule": eps_schedule,
        "eps_start_epoch": eps_start_epoch,
        "eps_ramp_epochs": eps_ramp_epochs,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "lr_schedule": lr_schedule,
        "milestones": _milestones(milestones),
        "gamma": gamma,
        "grad_clip": grad_clip,
        "l1": l1,
        "alpha": alpha,
        "fgsm_random_start": fgsm_random_start,
        "beta": beta,
        "kappa": kappa,
        "sabr_lambda": sabr_lambda,
        "sigma": sigma,
        "ood_train": ood_train,
        "ood_train_size": ood_train_size,
        "oe_weight": oe_weight,
        "rsip_alpha": rsip_alpha,
        "bias_order": bias_order,
        "bias_field": bias_field,
        "attack_steps": attack_steps,
        "attack_restarts": attack_restarts,
        "attack_step_size": attack_step_size,
        "ibp_init": ibp_init,
        "warmup_reg": warmup_reg,
        "warmup_reg_tol": warmup_reg_tol,
        "data_dir": data_dir,
        "download": download,
        "train_size": train_size,
        "test_size": test_size,
        "val_size": val_size,
        "classes": classes,
        "seed": seed,
        "device": device,
        "eval_every": eval_every,
        "out": out,
    }
    result = run_guarded(
        lambda: train(
            config_file=config,
            resume=resume,
            overwrite=overwrite,
            progress=progress and not json,
            **overrides,
        ),
        debug,
    )
    emit({"run_dir": str(result.run_dir), **result.metrics}, json, "certkit train")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("train")(train_command)
