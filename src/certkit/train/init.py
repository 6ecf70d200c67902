"""The IBP initialisation of Shi et al. 2021 ("Fast certified robust training with short warmup").

With standard initialisations the width of interval bounds grows by a large factor per layer,
so IBP bounds explode at the start of certified training. Shi et al. pick the weight
distribution that keeps the expected box radius constant through an affine layer followed
by a ReLU: for ``w ~ N(0, s^2)``, ``E|w| = s sqrt(2/pi)``, a layer with fan-in ``n`` scales
the radius by ``n s sqrt(2/pi)`` and a ReLU (inputs symmetric around 0) by 1/2 on average, so
``s = sqrt(2 pi) / n`` keeps the product at 1. Every Linear/Conv weight except the last
layer's is redrawn (from torch's global generator, so runs stay seeded); biases are kept.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig

AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def ibp_std(fan_in: int) -> float:
    """Shi et al.'s weight standard deviation for a layer with fan-in ``fan_in``."""
    return math.sqrt(2.0 * math.pi) / fan_in


def fan_in(weight: torch.Tensor) -> int:
    """Inputs feeding one output unit: ``in_features`` or ``in_channels * kernel size``."""
    return int(weight.shape[1]) * math.prod(int(s) for s in weight.shape[2:])


def ibp_initialise(model: nn.Module) -> list[str]:
    """Redraw the weights of every affine layer but the last; returns the layers touched."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, AFFINE)]
    touched = []
    with torch.no_grad():
        for name, m in layers[:-1]:
            w = m.weight
            w.normal_(0.0, ibp_std(fan_in(w)))
            touched.append(name)
    return touched


def wants_ibp_init(cfg: TrainConfig) -> bool:
    """``--ibp-init`` as given, or (unset) on for the bound-based methods."""
    if cfg.ibp_init is not None:
        return bool(cfg.ibp_init)
    from .methods import METHODS

    method = METHODS.get(cfg.method)
    return bool(method is not None and method.certified)
