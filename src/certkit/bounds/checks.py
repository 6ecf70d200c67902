"""Validation of what users hand the engines: bad input is an error, never a bound."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..errors import CertkitError

if TYPE_CHECKING:
    from .graph import Graph

WHICH = ("both", "lower", "upper")


def check_model(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """Reject NaN/Inf weights; return the model's floating dtype and device."""
    if not isinstance(model, nn.Module):
        raise CertkitError(f"expected a torch.nn.Module, got {type(model).__name__}")
    dtype, device = torch.get_default_dtype(), torch.device("cpu")
    found = False
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if not t.is_floating_point():
            continue
        if not found:
            dtype, device, found = t.dtype, t.device, True
        if not bool(torch.isfinite(t).all()):
            raise CertkitError(f"model weight {name!r} contains NaN or Inf")
    return dtype, device


def check_tensor(name: str, t: Tensor) -> None:
    """A finite floating-point tensor with a batch dimension."""
    if not isinstance(t, Tensor):
        raise CertkitError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.dim() < 1 or t.shape[0] == 0:
        raise CertkitError(f"{name} must have a non-empty batch dimension, got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise CertkitError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise CertkitError(f"{name} contains NaN or Inf")


def check_box(lower: Tensor, upper: Tensor) -> None:
    """Same shapes, finite, ``lower <= upper``."""
    check_tensor("lower bound", lower)
    check_tensor("upper bound", upper)
    if lower.shape != upper.shape:
        raise CertkitError(f"lower {tuple(lower.shape)} and upper {tuple(upper.shape)} differ")
    if bool((lower > upper).any()):
        raise CertkitError("lower bound exceeds upper bound")


def check_spec_matrix(C: Tensor | None, batch: int, n_out: int, like: Tensor) -> Tensor | None:
    """``C`` as (B, m, n_out) in the engine's dtype; a (m, n_out) matrix is shared by all."""
    if C is None:
        return None
    check_tensor("C", C)
    if C.dim() == 2:
        C = C.unsqueeze(0).expand(batch, -1, -1)
    if C.dim() != 3 or C.shape[0] != batch or C.shape[2] != n_out or C.shape[1] == 0:
        raise CertkitError(f"C must have shape (B={batch}, m, n_out={n_out}), got "
                           f"{tuple(C.shape)}")
    return C.to(dtype=like.dtype, device=like.device)


def check_which(which: str) -> str:
    """One of ``both``, ``lower``, ``upper``."""
    if which not in WHICH:
        raise CertkitError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    return which


def check_splits(splits: Sequence[Tensor], graph: Graph, batch: int,
                 device: torch.device) -> dict[int, Tensor]:
    """ReLU split constraints (one tensor per ReLU, its input's shape, with or without the
    batch dimension) as signs by pre-activation node; several ReLUs on one node are joined."""
    relus = graph.relu_nodes
    if len(splits) != len(relus):
        raise CertkitError(f"splits: expected one tensor per ReLU ({len(relus)}), "
                           f"got {len(splits)}")
    out: dict[int, Tensor] = {}
    for k, (i, s) in enumerate(zip(relus, splits, strict=True)):
        pre = graph.nodes[i].inputs[0]
        shape = graph.nodes[pre].shape
        if not isinstance(s, Tensor) or tuple(s.shape) not in (shape, (batch, *shape)):
            got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise CertkitError(f"splits[{k}] must have shape {(batch, *shape)}, got {got}")
        sign = s.to(device).sign().to(torch.int8).expand(batch, *shape)
        if pre in out:
            if bool(((out[pre] * sign) < 0).any()):
                raise CertkitError(f"splits[{k}] contradicts the split of the same neurons")
            sign = torch.where(sign != 0, sign, out[pre])
        out[pre] = sign
    return out
