"""The one training loop: every method is a loss object plugged into it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from .. import __version__
from ..devices import resolve_device
from ..errors import CertkitError
from ..models import build_model
from ..models.predict import accuracy
from ..runs import append_jsonl, read_jsonl, save_model, write_bytes_atomic
from .config import TrainConfig, apply_overrides, load_config_file
from .configure import check_config, make_config
from .init import ibp_initialise, wants_ibp_init
from .methods import StepContext, get_method
from .progress import TrainProgress
from .regularisers import l1_penalty
from .schedules import eps_at, lr_at
from .state import has_state, load_state, save_state

EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, the model and the last metrics row."""

    run_dir: Path
    model: nn.Module
    metrics: dict[str, Any]
    config: TrainConfig


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _dataset_options(cfg: TrainConfig) -> dict[str, Any]:
    return {"name": cfg.data, "data_dir": cfg.data_dir, "train_size": cfg.train_size,
            "test_size": cfg.test_size, "val_size": cfg.val_size, "classes": cfg.classes,
            "seed": cfg.seed}


def _model_meta(cfg: TrainConfig, info: Any, epochs_done: int) -> dict[str, Any]:
    return {
        "architecture": cfg.model, "input_shape": list(info.input_shape),
        "num_classes": info.num_classes, "mean": list(info.mean), "std": list(info.std),
        "dataset": _dataset_options(cfg), "method": cfg.method, "eps": cfg.eps,
        "certkit_version": __version__, "epochs_completed": epochs_done,
        "epochs": cfg.epochs, "complete": epochs_done >= cfg.epochs,
    }


def _prepare_dir(cfg: TrainConfig, overwrite: bool) -> Path:
    run_dir = Path(cfg.out)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise CertkitError(f"run directory {run_dir} is not empty; continue it with "
                               f"--resume {run_dir}, or pass --overwrite")
        if not (run_dir / "config.yaml").is_file():
            raise CertkitError(f"refusing to overwrite {run_dir}: it is not a certkit run")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run_dir / "config.yaml",
                       yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
    return run_dir


def _load_resume(resume: str | Path, overrides: dict[str, Any]) -> tuple[TrainConfig, Path]:
    run_dir = Path(resume)
    if not (run_dir / "config.yaml").is_file():
        raise CertkitError(f"cannot resume: {run_dir / 'config.yaml'} not found")
    given = {k: v for k, v in overrides.items() if v is not None}
    allowed = {"device"}
    if set(given) - allowed:
        raise CertkitError("--resume continues the run with its saved config; do not pass "
                           f"{', '.join(sorted(set(given) - allowed))}")
    cfg = apply_overrides(TrainConfig(), load_config_file(run_dir / "config.yaml"))
    cfg = check_config(apply_overrides(cfg, given))
    return cfg, run_dir


def train(
    config: TrainConfig | None = None,
    *,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    **overrides: Any,
) -> TrainResult:
    """Train a zoo model with a training method; writes a run directory (see ``runs``).

    Options are :class:`TrainConfig` fields, given as ``config``, a YAML ``config_file``
    and/or keyword overrides (``train(data="digits", model="mlp-3x100", epochs=5)``).
    ``resume=RUN_DIR`` continues a killed run from its last completed epoch and ends with
    the same weights as an uninterrupted run (on CPU). ``callbacks`` are called as
    ``cb(epoch, metrics_row)`` after every epoch.
    """
    from ..data import load_dataset

    if resume is not None:
        if config is not None or config_file is not None:
            raise CertkitError("--resume cannot be combined with a config")
        cfg, run_dir = _load_resume(resume, overrides)
    else:
        cfg = (check_config(apply_overrides(
            config, {k: v for k, v in overrides.items() if v is not None}))
            if config is not None else make_config(config_file, **overrides))
        run_dir = _prepare_dir(cfg, overwrite)
    device = resolve_device(cfg.device)

    opts = _dataset_options(cfg)
    splits = load_dataset(opts.pop("name"), download=cfg.download, **opts)
    info = splits.info
    x_train, y_train = splits.train.x.to(device), splits.train.y.to(device)
    x_test, y_test = splits.test.x.to(device), splits.test.y.to(device)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, info.input_shape, info.num_classes, info.mean, info.std)
    if wants_ibp_init(cfg):
        ibp_initialise(model)
    model.to(device)
    opt = _make_optimizer(cfg, model)
    method = get_method(cfg)

    start = 0
    if resume is not None and has_state(run_dir):
        start = load_state(run_dir, model, opt, device)
        rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["epoch"] <= start]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        write_bytes_atomic(run_dir / "metrics.jsonl", text.encode())
    elif resume is not None:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)

    n = x_train.shape[0]
    if n == 0:
        raise CertkitError("the training set is empty")
    steps = (n + cfg.batch_size - 1) // cfg.batch_size
    row: dict[str, Any] = {}
    with TrainProgress(progress, cfg.epochs, steps) as bar:
        for epoch in range(start, cfg.epochs):
            row = _run_epoch(cfg, model, opt, method, x_train, y_train, epoch, steps, bar)
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                row["test_acc"] = accuracy(model, x_test, y_test)
                if splits.val is not None:
                    row["val_acc"] = accuracy(model, splits.val.x.to(device),
                                              splits.val.y.to(device))
            append_jsonl(run_dir / "metrics.jsonl", row)
            save_state(run_dir, model, opt, epoch)
            save_model(run_dir, model, _model_meta(cfg, info, epoch + 1))
            for cb in callbacks:
                cb(epoch, row)
    if start >= cfg.epochs:  # nothing left to do: report the saved last row
        rows = read_jsonl(run_dir / "metrics.jsonl")
        row = rows[-1] if rows else {}
    model.eval()
    return TrainResult(run_dir=run_dir, model=model, metrics=row, config=cfg)


def _run_epoch(cfg: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer, method: Any,
               x: torch.Tensor, y: torch.Tensor, epoch: int, steps: int,
               bar: TrainProgress) -> dict[str, Any]:
    model.train()
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    bar.start_epoch(epoch)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    seen = 0
    t0 = time.perf_counter()
    for step in range(steps):
        idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        xb, yb = x[idx], y[idx]
        frac = step / steps
        lr = lr_at(cfg, epoch, frac)
        for group in opt.param_groups:
            group["lr"] = lr
        ctx = StepContext(eps=eps_at(cfg, epoch, frac), epoch=epoch, frac=frac, config=cfg)
        out = method.loss(model, xb, yb, ctx)
        loss = out.loss + cfg.l1 * l1_penalty(model) if cfg.l1 > 0 else out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        b = yb.shape[0]
        seen += b
        loss_sum += out.loss.detach() * b
        correct += (out.logits.detach().argmax(1) == yb).sum()
        if bar.due():
            bar.update(step + 1, float(loss_sum) / seen, float(correct) / seen,
                       seen / (time.perf_counter() - t0))
    seconds = time.perf_counter() - t0
    bar.update(steps, float(loss_sum) / seen, float(correct) / seen, seen / seconds)
    return {"epoch": epoch + 1, "train_loss": float(loss_sum) / seen,
            "train_acc": float(correct) / seen, "lr": lr, "eps": ctx.eps,
            "seconds": seconds, "examples_per_s": seen / seconds}
