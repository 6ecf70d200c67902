"""The distribution of Tsipras et al. 2019 ("Robustness may be at odds with accuracy").

``y`` is uniform on {-1, +1}; the *robust* feature ``x_1`` equals ``y`` with probability
``p`` and ``-y`` otherwise; the ``d`` *non-robust* features ``x_2..x_{d+1}`` are i.i.d.
``N(eta * y, 1)``. Any classifier with standard accuracy ``1 - delta`` has robust accuracy at
most ``p / (1 - p) * delta`` against Linf perturbations of size ``eps >= 2 eta`` (Theorem 3.1
of the TRADES/BN paper, ../shared/papers/trades-batchnorm-tradeoff.md section 3).

The samples are feature vectors, not images, so the generator is not in the image dataset
registry; it returns tensors ready for any classifier.
"""

from __future__ import annotations

import math

import torch

from ..errors import CertkitError


def tsipras(n: int, *, p: float = 0.95, eta: float | None = None, d: int = 100,
            seed: int = 0, labels: str = "pm1") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``(x, y)``: ``x`` float32 of shape (n, d + 1), ``y`` in {-1, +1}.

    ``eta`` defaults to ``2 / sqrt(d)`` (the paper's ``O(1/sqrt(d))`` regime); with
    ``labels="01"`` ``y`` is 0/1 (class indices) instead of -1/+1.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise CertkitError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise CertkitError(f"d must be an integer >= 1, got {d!r}")
    if not (0.5 <= p < 1):
        raise CertkitError(f"p must lie in [0.5, 1), got {p!r}")
    eta = 2.0 / math.sqrt(d) if eta is None else float(eta)
    if not math.isfinite(eta) or eta <= 0:
        raise CertkitError(f"eta must be a finite number > 0, got {eta!r}")
    if labels not in ("pm1", "01"):
        raise CertkitError(f"labels must be 'pm1' or '01', got {labels!r}")
    g = torch.Generator().manual_seed(int(seed))
    y = torch.randint(0, 2, (int(n),), generator=g) * 2 - 1
    yf = y.to(torch.float32)
    flip = torch.rand(int(n), generator=g) >= p
    x1 = torch.where(flip, -yf, yf)
    rest = eta * yf[:, None] + torch.randn(int(n), int(d), generator=g)
    x = torch.cat([x1[:, None], rest], dim=1)
    return x, (y if labels == "pm1" else (y + 1) // 2)


def tradeoff_bound(p: float, delta: float) -> float:
    """Theorem 3.1's upper bound ``p / (1 - p) * delta`` on robust accuracy (capped at 1)."""
    return min(1.0, p / (1 - p) * delta)
