"""Writing analysis artefacts: CSV tables and PNG figures, atomically, into a run directory.

Every analysis writes into ``<run>/analysis/`` as ``<name>.csv`` / ``<name>.png`` (and may add
``<name>.json``); the HTML report collects whatever is there. Figures use matplotlib's Agg
canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CertkitError
from ..runs import write_bytes_atomic

ANALYSIS_DIR = "analysis"


def analysis_path(run_dir: str | Path, name: str, suffix: str) -> Path:
    """``<run>/analysis/<name><suffix>``, creating the folder."""
    folder = Path(run_dir) / ANALYSIS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}{suffix}"


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> Path:
    """Write dict rows as CSV (header from ``columns`` or the first row), atomically."""
    rows = list(rows)
    if columns is None:
        if not rows:
            raise CertkitError(f"no rows to write to {path}")
        columns = list(rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue().encode())
    return path


def new_figure(width: float = 6.0, height: float = 4.0) -> Any:
    """A matplotlib Figure on an Agg canvas (headless; no global pyplot state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency
        raise CertkitError("plots need matplotlib: pip install matplotlib") from err
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue())
    return path
