"""Linear relaxations of ReLU from pre-activation bounds ``l <= z <= u``.

Upper: the chord ``relu(z) <= s (z - l)`` with ``s = u / (u - l)`` for unstable neurons.
Lower: ``relu(z) >= alpha z`` for any ``alpha`` in [0, 1]; CROWN's adaptive choice (equal to
DeepPoly's) is ``alpha = 1`` when ``u > -l`` and ``0`` otherwise, the smaller-area triangle.
Stable neurons are exact: slopes 1 (``l >= 0``) or 0 (``u <= 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class Relax:
    """Slopes of one ReLU layer: ``alpha z <= relu(z) <= slope z + icpt``."""

    alpha: Tensor  # (B, *shape)
    slope: Tensor  # (B, *shape)
    icpt: Tensor  # (B, *shape)
    unstable: Tensor  # bool (B, *shape)
    active: Tensor  # bool (B, *shape), l >= 0
    # per-row lower slopes of the unstable neurons (alpha-CROWN): (B, R, U), ordered as
    # ``unstable_index()``; when set they replace ``alpha`` for those rows
    alpha_rows: Tensor | None = None
    _index: tuple[Tensor, Tensor] | None = field(default=None, repr=False)
    _packed: Tensor | None = field(default=None, repr=False)

    def packed(self) -> Tensor:
        """``alpha``, ``slope`` and ``icpt`` stacked on the channel axis (one window gather)."""
        if self._packed is None:
            self._packed = torch.cat([self.alpha, self.slope, self.icpt], dim=1)
        return self._packed

    def take(self, index: slice | Tensor) -> Relax:
        """The relaxation of a subset of the samples (per-sample slopes only)."""
        return Relax(self.alpha[index], self.slope[index], self.icpt[index],
                     self.unstable[index], self.active[index])

    def unstable_index(self) -> tuple[Tensor, Tensor]:
        """Flat indices of the unstable neurons, (B, U), and which entries are real.

        Samples with fewer than ``U`` unstable neurons repeat their first one (or neuron 0),
        so scattering identical values through the padding is harmless.
        """
        if self._index is None:
            m = self.unstable.reshape(self.unstable.shape[0], -1)
            counts = m.sum(dim=1)
            u = int(counts.max()) if m.numel() else 0
            order = torch.argsort((~m).to(torch.int8), dim=1, stable=True)[:, :u]
            valid = torch.arange(u, device=m.device).unsqueeze(0) < counts.unsqueeze(1)
            self._index = (torch.where(valid, order, order[:, :1]), valid)
        return self._index

    def initial_alpha_rows(self, rows: int) -> Tensor:
        """``alpha`` of the unstable neurons repeated for ``rows`` rows: (B, rows, U)."""
        idx, _ = self.unstable_index()
        a = self.alpha.reshape(self.alpha.shape[0], -1).gather(1, idx)
        return a.unsqueeze(1).expand(-1, rows, -1)

    def with_alpha(self, alpha_rows: Tensor) -> Relax:
        """The same relaxation with per-row lower slopes (B, R, U) on the unstable neurons.

        Slopes are projected onto [0, 1]; padding entries copy the entry they duplicate, so
        the padded index list stays harmless.
        """
        idx, valid = self.unstable_index()
        a = alpha_rows.clamp(0.0, 1.0)
        if a.shape[2]:
            first_stable = self.active.reshape(self.active.shape[0], -1).gather(1, idx[:, :1])
            first = torch.where(valid[:, :1].unsqueeze(1), a[:, :, :1],
                                first_stable.to(a.dtype).unsqueeze(1))
            a = torch.where(valid.unsqueeze(1), a, first)
        return replace(self, alpha_rows=a, _index=self._index, _packed=None)


def relu_relax(lower: Tensor, upper: Tensor) -> Relax:
    """CROWN's relaxation of ``relu`` on ``[lower, upper]`` (differentiable in both)."""
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    width = torch.where(unstable, upper - lower, torch.ones_like(upper))
    slope = torch.where(unstable, upper / width, active.to(upper.dtype))
    icpt = torch.where(unstable, -slope * lower, torch.zeros_like(upper))
    alpha = torch.where(unstable, (upper > -lower).to(upper.dtype), active.to(upper.dtype))
    return Relax(alpha, slope, icpt, unstable, active)
