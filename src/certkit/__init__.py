"""certkit: train, attack, certify and analyse provably robust neural networks.

The commands of the ``certkit`` CLI are these functions with the same arguments:
``certkit.train.train`` (``certkit train``), :func:`evaluate` (``certkit eval``),
:func:`demo` (``certkit demo``); :func:`load_run` opens a trained run directory.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .demos import demo  # noqa: E402
from .errors import CertkitError  # noqa: E402
from .evaluation import evaluate  # noqa: E402
from .runs import Run, load_run  # noqa: E402

__all__ = ["CertkitError", "Run", "__version__", "demo", "evaluate", "load_run"]
