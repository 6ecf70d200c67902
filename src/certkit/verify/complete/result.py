"""Verdicts of complete verification, in VNN-COMP's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("sat", "unsat", "timeout", "unknown", "error")


@dataclass(frozen=True)
class Counterexample:
    """An input (flat, as fed to onnxruntime) and onnxruntime's output there."""

    x: np.ndarray
    y: np.ndarray


@dataclass
class Verdict:
    """``sat`` (with a counterexample), ``unsat``, ``timeout``, ``unknown`` or ``error``."""

    status: str
    seconds: float = 0.0
    counterexample: Counterexample | None = None
    method: str = ""
    message: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.status == "sat" and self.counterexample is None:
            raise ValueError("a sat verdict needs a counterexample")
