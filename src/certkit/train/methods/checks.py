"""Validation of the method hyper-parameters of a :class:`TrainConfig` (clear errors)."""

from __future__ import annotations

import math

from ...errors import CertkitError
from ..config import TrainConfig
from . import METHODS


def _in_range(cfg: TrainConfig, name: str, lo: float, hi: float = math.inf,
              lo_open: bool = False) -> None:
    """``lo <= value <= hi`` (``lo < value`` with ``lo_open``), finite; else CertkitError."""
    v = getattr(cfg, name)
    if not (math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi):
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{']' if hi < math.inf else ')'}"
        raise CertkitError(f"{name} must be a finite number in {interval}, got {v}")


def check_method_options(cfg: TrainConfig) -> None:
    """Ranges of the method options, and what the chosen method needs."""
    _in_range(cfg, "alpha", 0.0, 1.0)
    _in_range(cfg, "beta", 0.0)
    _in_range(cfg, "kappa", 0.0, 1.0)
    _in_range(cfg, "sabr_lambda", 0.0, 1.0, lo_open=True)
    _in_range(cfg, "sigma", 0.0)
    _in_range(cfg, "oe_weight", 0.0)
    if cfg.warmup_reg is not None:
        _in_range(cfg, "warmup_reg", 0.0)
    _in_range(cfg, "warmup_reg_tol", 0.0, lo_open=True)
    for name in ("attack_steps", "attack_restarts"):
        if getattr(cfg, name) < 1:
            raise CertkitError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.attack_step_size is not None:
        _in_range(cfg, "attack_step_size", 0.0, lo_open=True)
    if cfg.ood_train_size is not None and cfg.ood_train_size < 1:
        raise CertkitError(f"ood_train_size must be >= 1, got {cfg.ood_train_size}")
    method = METHODS[cfg.method]
    if method.uses_eps and not cfg.eps > 0:
        raise CertkitError(f"method {cfg.method!r} trains against an eps-ball: pass --eps > 0")
    if cfg.method == "gaussian" and not cfg.sigma > 0:
        raise CertkitError("method 'gaussian' needs --sigma > 0")
    if cfg.method == "oe" and not cfg.ood_train:
        raise CertkitError("method 'oe' needs an outlier training set: --ood-train DATASET")
    if cfg.ood_train and cfg.method != "oe":
        raise CertkitError(f"--ood-train is used by method 'oe' only, not {cfg.method!r}")
