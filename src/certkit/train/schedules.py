"""Learning-rate and eps schedules as pure functions of (epoch, fraction of the epoch).

Being stateless, they need no checkpointing: a resumed run recomputes the same values.

Eps schedules (``--eps-schedule``), all 0 before ``eps_start_epoch`` and never above ``eps``:

- ``constant``: the target eps from ``eps_start_epoch`` on.
- ``linear``: a per-step linear ramp from 0 to eps over ``eps_ramp_epochs`` epochs.
- ``smoothed``: the ramp of Shi et al. 2021 ("Fast certified robust training with short
  warmup", auto_LiRPA's ``SmoothedScheduler``): ``eps * a * t**4`` for the first quarter of
  the ramp, then linear, with ``a`` chosen so that value and slope are continuous there.
  Growing slowly while eps is tiny avoids the early blow-up of IBP bounds.

With a ramp the target is reached exactly at the first step of epoch
``eps_start_epoch + eps_ramp_epochs`` (0-based) and kept from then on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .config import TrainConfig

EpsSchedule = Callable[[TrainConfig, int, float], float]

SMOOTH_MIDPOINT = 0.25  # fraction of the ramp where the polynomial part hands over to linear
SMOOTH_POWER = 4.0  # exponent of the polynomial part


def ramp_progress(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """Fraction of the eps ramp done at ``epoch`` (0-based) + ``frac``, in [0, 1]."""
    t = epoch + frac - cfg.eps_start_epoch
    if t < 0:
        return 0.0
    if cfg.eps_ramp_epochs <= 0:
        return 1.0
    return min(1.0, t / cfg.eps_ramp_epochs)


def smoothed_ramp(t: float, mid: float = SMOOTH_MIDPOINT, power: float = SMOOTH_POWER) -> float:
    """The smoothed ramp on [0, 1] -> [0, 1]: ``a t^power`` up to ``mid``, linear after it.

    ``a`` solves value- and slope-continuity at ``mid``: the line from ``(mid, a mid^p)`` to
    ``(1, 1)`` has slope ``a p mid^(p-1)``, so ``a = 1 / (mid^(p-1) (p (1 - mid) + mid))``.
    """
    t = min(max(t, 0.0), 1.0)
    a = 1.0 / (mid ** (power - 1.0) * (power * (1.0 - mid) + mid))
    if t < mid:
        return a * t**power
    at_mid = a * mid**power
    return min(1.0, at_mid + (1.0 - at_mid) * (t - mid) / (1.0 - mid))


def _constant_eps(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """The target eps from ``eps_start_epoch`` on, 0 before it."""
    return cfg.eps if epoch >= cfg.eps_start_epoch else 0.0


def _linear_eps(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """Linear ramp from 0 at ``eps_start_epoch`` to eps ``eps_ramp_epochs`` later."""
    return cfg.eps * ramp_progress(cfg, epoch, frac)


def _smoothed_eps(cfg: TrainConfig, epoch: int, frac: float) -> float:
    """Shi et al. 2021: polynomial then linear ramp (see :func:`smoothed_ramp`)."""
    return cfg.eps * smoothed_ramp(ramp_progress(cfg, epoch, frac))


EPS_SCHEDULES: dict[str, EpsSchedule] = {
    "constant": _constant_eps,
    "linear": _linear_eps,
    "smoothed": _smoothed_eps,
}


def eps_schedule_names() -> list[str]:
    """Registered eps schedules."""
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
