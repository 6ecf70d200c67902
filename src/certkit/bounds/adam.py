"""Adam (Kingma & Ba 2015) on a few tensors, without autograd bookkeeping.

``torch.optim`` is avoided on purpose: its first use imports ``torch._dynamo``, a second or
more that a verification deadline cannot spare. The update is ``torch.optim.Adam``'s
(bias-corrected moments, ``eps`` added to the root), with one learning rate per tensor and
an exponential decay of every rate after each step (``ExponentialLR``).
"""

from __future__ import annotations

import torch
from torch import Tensor


class Adam:
    """Adam on ``params`` (updated in place), one learning rate each, decayed by ``decay``."""

    def __init__(self, params: list[Tensor], rates: list[float], *, decay: float = 1.0,
                 b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        self.params, self.rates, self.decay = params, list(rates), decay
        self.b1, self.b2, self.eps = b1, b2, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[Tensor | None] | tuple[Tensor | None, ...]) -> None:
        """One descent step along ``grads`` (None: no gradient, the tensor stays)."""
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        with torch.no_grad():
            for p, g, m, v, lr in zip(self.params, grads, self.m, self.v, self.rates,
                                      strict=True):
                if g is None:
                    continue
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                p.addcdiv_(m / c1, (v / c2).sqrt_().add_(self.eps), value=-lr)
        self.rates = [r * self.decay for r in self.rates]
