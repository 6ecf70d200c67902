"""One input region of a VNN-LIB property as tensors: the box and the stacked output rows.

A region is unsafe when some input ``x`` of its box makes *some* group (disjunct) of rows
hold: ``C_i f(x) <= d_i`` for every row ``i`` of the group. The rows of all groups are
stacked into one matrix so a single bound computation serves every group. For one group,
``violation = max_i (C_i y - d_i)`` is <= 0 exactly on unsafe outputs; a box is safe for
the group as soon as a lower bound of one row's ``C_i y - d_i`` is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ...io.vnnlib import Region


@dataclass
class RegionSpec:
    """Box ``[lower, upper]`` (n_in,) and rows ``C`` (m, n_out), ``d`` (m,) in groups."""

    lower: Tensor
    upper: Tensor
    C: Tensor
    d: Tensor
    group: Tensor  # (m,) long, the disjunct of every row
    n_groups: int
    region: Region

    @classmethod
    def from_region(cls, region: Region, dtype: torch.dtype = torch.float64) -> RegionSpec:
        """Stack the disjuncts of ``region``."""
        n_out = region.disjuncts[0].C.shape[1]
        rows = [oc.C for oc in region.disjuncts]
        c = np.concatenate(rows, 0) if rows else np.zeros((0, n_out))
        d = np.concatenate([oc.d for oc in region.disjuncts], 0)
        group = np.concatenate([np.full(oc.C.shape[0], k) for k, oc in
                                enumerate(region.disjuncts)]).astype(np.int64)

        def t(a: np.ndarray) -> Tensor:
            return torch.tensor(a, dtype=dtype)

        return cls(t(region.lower), t(region.upper), t(c).reshape(-1, n_out), t(d),
                   torch.tensor(group, dtype=torch.long), len(region.disjuncts), region)

    @property
    def trivially_unsafe(self) -> bool:
        """Some group has no rows: every input of the box is unsafe."""
        counts = torch.bincount(self.group, minlength=self.n_groups)
        return bool((counts == 0).any())

    def group_max(self, values: Tensor) -> Tensor:
        """Per group, the maximum over its rows: (B, m) -> (B, G); groups without rows: -inf."""
        out = values.new_full((values.shape[0], self.n_groups), -float("inf"))
        idx = self.group.to(values.device).expand(values.shape[0], -1)
        return out.scatter_reduce(1, idx, values, reduce="amax", include_self=True)

    def margins(self, y: Tensor) -> Tensor:
        """``C_i y - d_i`` for outputs ``y`` (B, n_out): (B, m)."""
        return y @ self.C.to(y.dtype).T - self.d.to(y.dtype)

    def violation(self, y: Tensor) -> Tensor:
        """Per group ``max_i (C_i y - d_i)``: (B, G); <= 0 means the outputs are unsafe."""
        return self.group_max(self.margins(y))

    def proven(self, row_lower: Tensor) -> Tensor:
        """Which groups lower bounds of ``C y`` (B, m) prove safe: (B, G) bool."""
        return self.group_max(row_lower - self.d.to(row_lower.dtype)) > 0
