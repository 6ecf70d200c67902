"""``certkit train``: train a zoo model with a training method into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, JsonOpt, emit, run_guarded

Opt = typer.Option


def _milestones(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter("milestones must be comma-separated integers, e.g. 5,8") from None


def train_command(
    data: Annotated[str | None, Opt(help="Dataset name (see `certkit datasets`). [digits]")]
    = None,
    model: Annotated[str | None, Opt(help="Architecture (see `certkit models`). [mlp-3x100]")]
    = None,
    method: Annotated[str | None, Opt(help="Training method. [standard]")] = None,
    eps: Annotated[float | None, Opt(help="Target training eps (Linf, pixel space). [0]")]
    = None,
    eps_schedule: Annotated[str | None, Opt(help="Eps schedule. [constant]")] = None,
    eps_start_epoch: Annotated[int | None, Opt(help="Epoch the eps schedule starts. [0]")]
    = None,
    eps_ramp_epochs: Annotated[int | None, Opt(help="Epochs of eps ramp-up. [0]")] = None,
    epochs: Annotated[int | None, Opt(help="Number of epochs. [10]")] = None,
    batch_size: Annotated[int | None, Opt(help="Batch size. [128]")] = None,
    optimizer: Annotated[str | None, Opt(help="adam or sgd. [adam]")] = None,
    lr: Annotated[float | None, Opt(help="Learning rate. [1e-3]")] = None,
    momentum: Annotated[float | None, Opt(help="SGD momentum. [0.9]")] = None,
    weight_decay: Annotated[float | None, Opt(help="Weight decay. [0]")] = None,
    lr_schedule: Annotated[str | None, Opt(help="constant, milestones or cosine. [constant]")]
    = None,
    milestones: Annotated[str | None, Opt(help="Epochs where lr *= gamma, e.g. 5,8.")] = None,
    gamma: Annotated[float | None, Opt(help="LR decay factor at milestones. [0.1]")] = None,
    grad_clip: Annotated[float | None, Opt(help="Clip the gradient norm to this value.")] = None,
    data_dir: Annotated[str | None, Opt(help="Dataset root [$CERTKIT_DATA or ~/.cache/certkit].")]
    = None,
    download: Annotated[bool | None, Opt("--download/--no-download",
                                         help="Fetch missing dataset files (checksummed).")]
    = None,
    train_size: Annotated[int | None, Opt(help="Deterministic training subset size.")] = None,
    test_size: Annotated[int | None, Opt(help="Deterministic test subset size.")] = None,
    val_size: Annotated[int | None, Opt(help="Validation examples split off training. [0]")]
    = None,
    classes: Annotated[int | None, Opt(help="Keep the first N classes (gtsrb).")] = None,
    seed: Annotated[int | None, Opt(help="Seed for data order and initialisation. [0]")] = None,
    device: Annotated[str | None, Opt(help="Torch device: cpu, cuda, ... [cpu]")] = None,
    eval_every: Annotated[int | None, Opt(help="Evaluate test accuracy every N epochs. [1]")]
    = None,
    out: Annotated[str | None, Opt(help="Run directory to write. [runs/latest]")] = None,
    config: Annotated[Path | None, Opt(help="YAML file of options; flags override it.")] = None,
    resume: Annotated[Path | None, Opt(help="Continue a killed run from its checkpoint.")]
    = None,
    overwrite: Annotated[bool, Opt(help="Replace an existing run directory.")] = False,
    progress: Annotated[bool, Opt("--progress/--no-progress", help="Live progress bar.")]
    = True,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a network; writes config.yaml, metrics.jsonl and a safetensors checkpoint."""
    from ..train import train

    overrides: dict[str, Any] = {
        "data": data, "model": model, "method": method, "eps": eps,
        "eps_schedule": eps_schedule, "eps_start_epoch": eps_start_epoch,
        "eps_ramp_epochs": eps_ramp_epochs, "epochs": epochs, "batch_size": batch_size,
        "optimizer": optimizer, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
        "lr_schedule": lr_schedule, "milestones": _milestones(milestones), "gamma": gamma,
        "grad_clip": grad_clip, "data_dir": data_dir, "download": download,
        "train_size": train_size, "test_size": test_size, "val_size": val_size,
        "classes": classes, "seed": seed, "device": device, "eval_every": eval_every,
        "out": out,
    }
    result = run_guarded(
        lambda: train(config_file=config, resume=resume, overwrite=overwrite,
                      progress=progress and not json, **overrides),
        debug,
    )
    emit({"run_dir": str(result.run_dir), **result.metrics}, json, "certkit train")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("train")(train_command)
