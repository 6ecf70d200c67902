"""OOD detectors behind one API (``det.fit(data)``, ``det(x)`` = score, higher = more OOD).

=============== ============================================ ===========================
name            score                                        paper
=============== ============================================ ===========================
msp             -max softmax                                 Hendrycks & Gimpel 2017
odin            -max softmax(f(x~)/T), perturbed input       Liang et al. 2018
mahalanobis     min class distance, shared covariance        Lee et al. 2018
energy          -T logsumexp(f/T)                            Liu et al. 2020
certificate     -largest certified eps (bisection)           Franco et al. 2023
=============== ============================================ ===========================
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...errors import choice_error
from .base import Detector, iter_batches
from .certificate import Certificate
from .datasets import SYNTHETIC, ood_names, ood_set
from .energy import Energy
from .mahalanobis import Mahalanobis, robust_precision
from .msp import MSP
from .odin import ODIN

DETECTORS: dict[str, type[Detector]] = {
    d.name: d for d in (MSP, ODIN, Mahalanobis, Energy, Certificate)}


def detector_names() -> list[str]:
    """Names accepted by :func:`make_detector` and ``certkit ood --detectors``."""
    return list(DETECTORS)


def make_detector(name: str, model: nn.Module, **kwargs: Any) -> Detector:
    """Instantiate the detector ``name`` for ``model``."""
    if name not in DETECTORS:
        raise choice_error("OOD detector", name, detector_names())
    return DETECTORS[name](model, **kwargs)


__all__ = ["DETECTORS", "MSP", "ODIN", "SYNTHETIC", "Certificate", "Detector", "Energy",
           "Mahalanobis", "detector_names", "iter_batches", "make_detector", "ood_names",
           "ood_set", "robust_precision"]
