"""A checked :class:`~.config.TrainConfig`: defaults, a YAML file, overrides, then every
check (value ranges, and names against the model, method and schedule registries).

The registries import :mod:`.config`; this module sits above both, so the configuration
never needs the registry to be parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CertkitError, choice_error
from ..models import get_architecture
from .config import TrainConfig, apply_overrides, load_config_file
from .methods import method_names
from .methods.checks import check_method_options
from .schedules import eps_schedule_names

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "milestones", "cosine")


def check_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` if its values and names are valid; else CertkitError on the first problem."""
    get_architecture(cfg.model)
    if cfg.method not in method_names():
        raise choice_error("training method", cfg.method, method_names())
    if cfg.optimizer not in OPTIMIZERS:
        raise choice_error("optimizer", cfg.optimizer, OPTIMIZERS)
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise choice_error("lr schedule", cfg.lr_schedule, LR_SCHEDULES)
    if cfg.eps_schedule not in eps_schedule_names():
        raise choice_error("eps schedule", cfg.eps_schedule, eps_schedule_names())
    for name in ("epochs", "batch_size", "eval_every"):
        if getattr(cfg, name) < 1:
            raise CertkitError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("eps", "weight_decay", "val_size", "eps_start_epoch", "eps_ramp_epochs",
                 "l1"):
        if getattr(cfg, name) < 0:
            raise CertkitError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        raise CertkitError(f"lr must be > 0, got {cfg.lr}")
    if cfg.grad_clip is not None and not cfg.grad_clip > 0:
        raise CertkitError(f"grad_clip must be > 0, got {cfg.grad_clip}")
    if cfg.lr_schedule == "milestones" and not cfg.milestones:
        raise CertkitError("lr_schedule 'milestones' needs --milestones, e.g. 5,8")
    if cfg.eps_start_epoch + cfg.eps_ramp_epochs > cfg.epochs:
        raise CertkitError(f"the eps schedule ends at epoch "
                           f"{cfg.eps_start_epoch + cfg.eps_ramp_epochs} (eps_start_epoch "
                           f"+ eps_ramp_epochs), after the last epoch ({cfg.epochs})")
    check_method_options(cfg)
    return cfg


def make_config(config_file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file, then keyword overrides (None values are ignored),
    checked by :func:`check_config`."""
    cfg = TrainConfig()
    if config_file is not None:
        cfg = apply_overrides(cfg, load_config_file(config_file))
    cfg = apply_overrides(cfg, {k: v for k, v in overrides.items() if v is not None})
    return check_config(cfg)
