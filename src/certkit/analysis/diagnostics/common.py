"""Helpers shared by the diagnostics: opening a run and picking its evaluation points."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ...devices import resolve_device
from ...errors import CertkitError, choice_error
from ...runs import Run, load_run


def open_run(run: str | Path | Run, device: str = "cpu") -> Run:
    """The run (loaded if a path), its model moved to ``device`` in eval mode."""
    opened = run if isinstance(run, Run) else load_run(run)
    dev = resolve_device(device)
    opened.model.to(dev).eval()
    return opened


def run_points(opened: Run, n: int | None, split: str = "test",
               data_dir: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` points of ``split`` of the run's dataset."""
    if split not in ("train", "test"):
        raise choice_error("split", split, ["train", "test"])
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise CertkitError(f"n must be an integer >= 1, got {n!r}")
    part = getattr(opened.load_data(data_dir), split)
    return part.x[:n], part.y[:n]


def check_eps(eps: float, positive: bool = False) -> float:
    """A finite eps >= 0 (> 0 with ``positive``), or a clear error."""
    if not isinstance(eps, int | float) or not math.isfinite(eps) or eps < 0 or (
            positive and eps == 0):
        raise CertkitError(f"eps must be a finite number {'>' if positive else '>='} 0, "
                           f"got {eps!r}")
    return float(eps)


def run_eps(opened: Run, eps: float | None) -> float:
    """``eps`` or, when None, the run's training eps (which must then be > 0)."""
    if eps is None:
        eps = float(opened.meta.get("eps") or 0.0)
        if eps <= 0:
            raise CertkitError("the run was not trained with an eps; pass --eps")
    return check_eps(eps, positive=True)
