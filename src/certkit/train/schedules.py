"""Learning-rate and eps schedules as pure functions of (epoch, fraction of the epoch).

Being stateless, they need no checkpointing: a resumed run recomputes the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .config import TrainConfig

EpsSchedule = Callable[[TrainConfig, int, float], float]


def _constant_eps(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """The target eps from ``eps_start_epoch`` on, 0 before it."""
    return cfg.eps if epoch >= cfg.eps_start_epoch else 0.0


EPS_SCHEDULES: dict[str, EpsSchedule] = {"constant": _constant_eps}


def eps_schedule_names() -> list[str]:
    """Registered eps schedules (the training-methods issue adds ramp-ups)."""
    return list(EPS_SCHEDULES)


def eps_at(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """Training eps at ``epoch`` (0-based) after ``frac`` in [0, 1) of its steps; <= cfg.eps."""
    return min(cfg.eps, EPS_SCHEDULES[cfg.eps_schedule](cfg, epoch, frac))


def lr_at(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """Learning rate at ``epoch`` (0-based) after ``frac`` of its steps."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "milestones":
        return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    t = (epoch + frac) / cfg.epochs  # cosine annealing to 0 over the whole run, per step
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * t))
