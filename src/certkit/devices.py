"""The ``--device`` option: a torch device that exists here, or one clear error."""

from __future__ import annotations

import torch

from .errors import CertkitError


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here, or a clear error."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CertkitError(f"unknown device {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CertkitError(f"device {device!r} requested but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise CertkitError(f"device {device!r} requested but MPS is not available here")
    return dev
