"""Training methods: one loss object per method, in a registry keyed by name."""

from __future__ import annotations

from ...errors import choice_error
from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .standard import Standard

METHODS: dict[str, type[TrainingMethod]] = {m.name: m for m in [Standard]}


def method_names() -> list[str]:
    """Names accepted by ``certkit train --method``."""
    return list(METHODS)


def get_method(cfg: TrainConfig) -> TrainingMethod:
    """Instantiate the configured method."""
    if cfg.method not in METHODS:
        raise choice_error("training method", cfg.method, method_names())
    return METHODS[cfg.method].from_config(cfg)


__all__ = ["METHODS", "LossOutput", "StepContext", "TrainingMethod", "get_method",
           "method_names"]
