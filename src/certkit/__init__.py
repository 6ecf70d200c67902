"""certkit: train, attack, certify and analyse provably robust neural networks."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import CertkitError  # noqa: E402
from .runs import Run, load_run  # noqa: E402

__all__ = ["CertkitError", "Run", "__version__", "load_run"]
