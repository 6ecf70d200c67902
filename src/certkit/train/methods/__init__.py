"""Training methods: one loss object per method, in a registry keyed by name.

=========== ==========================================================================
standard    CE on clean inputs
fgsm-at     ``alpha * CE(x) + (1 - alpha) * CE(x_FGSM)``
pgd-at      CE at the PGD point (Madry et al.)
trades      ``CE(x) + beta * KL(f(x) || f(x'))`` (Zhang et al.)
ibp         robust CE on interval bounds (Gowal et al.; Shi et al.'s recipe)
crown-ibp   robust CE on a beta-mix of CROWN-IBP and IBP bounds (Zhang et al. 2020)
sabr        robust CE on IBP bounds of a small box around a PGD point (Müller et al.)
gaussian    CE under Gaussian input noise (randomized-smoothing base classifier)
oe          CE + weight * CE to uniform on an outlier set (outlier exposure)
rsip-ibp    CE + alpha * bias-field hinge loss on RSIP/IBP bounds (Henriksen & Lomuscio)
rsip-ssip   CE + alpha * bias-field hinge loss on RSIP/SSIP bounds (Algorithm 1)
=========== ==========================================================================
"""

from __future__ import annotations

from ...errors import choice_error
from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .crown_ibp import CrownIBP
from .fgsm_at import FGSMAT
from .gaussian import Gaussian
from .ibp import IBP
from .oe import OutlierExposure
from .pgd_at import PGDAT
from .rsip import RSIPIBP, RSIPSSIP
from .sabr import SABR
from .standard import Standard
from .trades import TRADES

METHODS: dict[str, type[TrainingMethod]] = {
    m.name: m
    for m in [Standard, FGSMAT, PGDAT, TRADES, IBP, CrownIBP, SABR, Gaussian, OutlierExposure,
              RSIPIBP, RSIPSSIP]
}


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
