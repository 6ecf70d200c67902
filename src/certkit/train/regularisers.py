"""Regularisers: L1 on weights, and the warm-up regularisers of Shi et al. 2021.

The warm-up regularisers act on the interval bounds ``[l, u]`` of every ReLU input while eps
is still ramping up (their weight decays as ``1 - eps_t / eps``):

- *tightness*: per ReLU layer ``relu(tol - r_0 / r_i) / tol``, with ``r_i`` the mean bound
  radius at the layer and ``r_0`` that of the (normalised) input: penalises boxes that grow
  by more than ``1 / tol`` before a ReLU;
- *ReLU balance*: with box centres ``c``, active (``l > 0``) and inactive (``u < 0``) masks,
  the ratio of the mean centre of active to (minus) that of inactive neurons, and of their
  summed squared deviations from the mean centre, each folded to ``min(r, 1/r)``; each
  ratio below ``tol`` is penalised by ``relu(tol - ratio) / tol``. Keeps ReLUs from dying.

Both are averaged over the ReLU layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..bounds import BoundResult
from .init import AFFINE


def l1_penalty(model: nn.Module) -> Tensor:
    """Sum of ``|w|`` over the weights of every Linear/Conv layer."""
    terms = [m.weight.abs().sum() for m in model.modules() if isinstance(m, AFFINE)]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def _folded_ratio(a: Tensor, b: Tensor) -> Tensor | None:
    """``min(a/b, b/a)`` for non-negative ``a, b``; None when both are 0 (no signal)."""
    hi = torch.maximum(a, b)
    if not bool(hi > 0):
        return None
    return torch.minimum(a, b) / hi


def tightness_term(r0: Tensor, lower: Tensor, upper: Tensor, tol: float) -> Tensor:
    """``relu(tol - r0 / r) / tol`` for one layer's bounds (``r`` their mean radius)."""
    r = ((upper - lower) / 2).mean().clamp(min=1e-12)
    return torch.relu(tol - r0 / r) / tol


def relu_balance_term(lower: Tensor, upper: Tensor, tol: float) -> Tensor:
    """Shi et al.'s ReLU-balance penalty for one layer's pre-activation bounds."""
    c = (lower + upper) / 2
    act, inact = (lower > 0).to(c.dtype), (upper < 0).to(c.dtype)
    out = torch.zeros((), dtype=c.dtype, device=c.device)
    mean_ratio = _folded_ratio((c * act).mean(), -(c * inact).mean())
    dev = (c - c.mean()) ** 2
    var_ratio = _folded_ratio((dev * act).sum(), (dev * inact).sum())
    for ratio in (mean_ratio, var_ratio):
        if ratio is not None and bool(torch.isfinite(ratio)):
            out = out + torch.relu(tol - ratio) / tol
    return out


def input_radius(res: BoundResult) -> Tensor:
    """Mean bound radius of the input after its leading elementwise affine maps (Normalize)."""
    g, i = res.graph, 0
    for node in g.nodes[1:]:
        if node.op is None or node.op.kind != "affine" or node.inputs != (i,):
            break
        i = node.index
    lo, hi = res.nodes[i]
    return ((hi - lo) / 2).mean()


def warmup_regulariser(res: BoundResult, tol: float) -> Tensor:
    """Tightness + ReLU-balance penalties averaged over the ReLU layers of ``res``."""
    layers = res.pre_activation_bounds()
    if not layers:
        return torch.zeros(())
    r0 = input_radius(res)
    total = torch.zeros((), dtype=r0.dtype, device=r0.device)
    for _, lo, hi in layers:
        total = total + tightness_term(r0, lo, hi, tol) + relu_balance_term(lo, hi, tol)
    return total / len(layers)
