"""Linear relaxations of ReLU from pre-activation bounds ``l <= z <= u``.

Upper: the chord ``relu(z) <= s (z - l)`` with ``s = u / (u - l)`` for unstable neurons.
Lower: ``relu(z) >= alpha z`` for any ``alpha`` in [0, 1]; CROWN's adaptive choice (equal to
DeepPoly's) is ``alpha = 1`` when ``u > -l`` and ``0`` otherwise, the smaller-area triangle.
Stable neurons are exact: slopes 1 (``l >= 0``) or 0 (``u <= 0``).

Split neurons (branch and bound) are stable by construction: their bounds are clamped to
the constrained side before relaxing. beta-CROWN (Wang et al. 2021) adds each split's
constraint to a bound row with a multiplier ``beta >= 0``: on ``z >= 0`` any objective ``g``
satisfies ``g >= g - beta z``, on ``z <= 0`` ``g >= g + beta z``, so back-substitution adds
``beta * d`` to the row's coefficient of ``z`` with ``d = -split`` (sound for every
``beta >= 0``).
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
    # split neurons: flat indices (B, S) and beta directions -split (0 for padding)
    split_index: Tensor | None = None
    split_dir: Tensor | None = None
    # per-row multipliers of the split constraints (beta-CROWN): (B, R, S), >= 0 when used
    beta_rows: Tensor | None = None
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
                     self.unstable[index], self.active[index],
                     split_index=None if self.split_index is None else self.split_index[index],
                     split_dir=None if self.split_dir is None else self.split_dir[index])

    def detached(self) -> Relax:
        """The same slopes without autograd history (per-row slopes and betas dropped)."""
        return Relax(self.alpha.detach(), self.slope.detach(), self.icpt.detach(),
                     self.unstable, self.active, split_index=self.split_index,
                     split_dir=self.split_dir, _index=self.unstable_index())

    def unstable_index(self) -> tuple[Tensor, Tensor]:
        """Flat indices of the unstable neurons, (B, U), and which entries are real.

        Samples with fewer than ``U`` unstable neurons repeat their first one (or neuron 0),
        so scattering identical values through the padding is harmless.
        """
        if self._index is None:
            order, valid = selected(self.unstable.reshape(self.unstable.shape[0], -1))
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

    def with_beta(self, beta_rows: Tensor) -> Relax:
        """The same relaxation with split multipliers (B, R, S), projected onto ``>= 0``."""
        return replace(self, beta_rows=beta_rows.clamp(min=0.0), _packed=None)

    def add_beta(self, a: Tensor) -> Tensor:
        """Dense rows over this layer's input (B, R, *shape) with ``beta * d`` added."""
        assert self.beta_rows is not None and self.split_index is not None
        assert self.split_dir is not None
        b, r = a.shape[:2]
        idx = self.split_index.unsqueeze(1).expand(-1, r, -1)
        step = self.beta_rows * self.split_dir.unsqueeze(1).to(a.dtype)
        return a.reshape(b, r, -1).scatter_add(2, idx, step).view_as(a)


def relu_relax(lower: Tensor, upper: Tensor, split: Tensor | None = None) -> Relax:
    """CROWN's relaxation of ``relu`` on ``[lower, upper]`` (differentiable in both).

    ``split`` (B, *shape; +1 / -1 / 0): the layer's split constraints, whose bounds the
    caller has already clamped; recorded for beta-CROWN's multipliers.
    """
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    width = torch.where(unstable, upper - lower, torch.ones_like(upper))
    slope = torch.where(unstable, upper / width, active.to(upper.dtype))
    icpt = torch.where(unstable, -slope * lower, torch.zeros_like(upper))
    alpha = torch.where(unstable, (upper > -lower).to(upper.dtype), active.to(upper.dtype))
    if split is None or not bool((split != 0).any()):
        return Relax(alpha, slope, icpt, unstable, active)
    m = split.reshape(split.shape[0], -1)
    order, valid = selected(m != 0)
    direction = torch.where(valid, -m.gather(1, order).sign(), torch.zeros_like(order))
    return Relax(alpha, slope, icpt, unstable, active, split_index=order,
                 split_dir=direction.to(upper.dtype))


def selected(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Flat indices of the selected entries of ``mask`` (B, n), first in each row, padded to
    the largest count (B, K), and which of them are real."""
    counts = mask.sum(dim=1)
    k = int(counts.max()) if mask.numel() else 0
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :k]
    return order, torch.arange(k, device=mask.device).unsqueeze(0) < counts.unsqueeze(1)
