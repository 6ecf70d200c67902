"""VNN-COMP files: benchmark instance lists and per-instance result files.

A result file's first line is ``sat``, ``unsat``, ``timeout``, ``unknown`` or ``error``;
after ``sat`` comes the counterexample as one parenthesised list of ``(X_i value)`` pairs
for the inputs then ``(Y_j value)`` for the outputs, in the row-major order of the ONNX
tensors (VNN-COMP 2022 onwards). Files are written atomically: a reader sees a complete
result or none.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CertkitError

RESULT_STATUSES = ("sat", "unsat", "timeout", "unknown", "error")


@dataclass(frozen=True)
class Instance:
    """One row of an ``instances.csv``: network, property and timeout (seconds)."""

    onnx: str
    vnnlib: str
    timeout: float

    @property
    def name(self) -> str:
        """``<network stem>:<property stem>`` (for tables)."""
        return f"{_stem(self.onnx)}:{_stem(self.vnnlib)}"


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".gz", ".onnx", ".vnnlib"):
        name = name.removesuffix(suffix)
    return name


def read_instances(path: str | Path) -> list[Instance]:
    """Rows ``onnx,vnnlib,timeout`` of a VNN-COMP ``instances.csv`` (no header)."""
    path = Path(path)
    out = []
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                raise CertkitError(f"{path}:{n}: expected onnx,vnnlib,timeout, got {row}")
            try:
                timeout = float(row[2])
            except ValueError:
                raise CertkitError(f"{path}:{n}: timeout {row[2]!r} is not a number") from None
            if not timeout > 0:
                raise CertkitError(f"{path}:{n}: timeout must be positive, got {row[2]}")
            out.append(Instance(row[0].strip(), row[1].strip(), timeout))
    if not out:
        raise CertkitError(f"{path}: no instances")
    return out


def format_result(status: str, x: np.ndarray | None = None, y: np.ndarray | None = None) -> str:
    """The text of a result file."""
    if status not in RESULT_STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if status != "sat":
        return status + "\n"
    if x is None or y is None:
        raise ValueError("a sat result needs the counterexample")
    pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(np.asarray(x).reshape(-1))]
    pairs += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(np.asarray(y).reshape(-1))]
    return "sat\n(" + "\n ".join(pairs) + ")\n"


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(path: str | Path, status: str, x: np.ndarray | None = None,
                 y: np.ndarray | None = None) -> None:
    """Write a VNN-COMP result file."""
    write_text_atomic(path, format_result(status, x, y))


def read_result(path: str | Path) -> tuple[str, dict[str, float]]:
    """Status and (for ``sat``) the assignment ``{"X_0": v, ..., "Y_0": v, ...}``."""
    text = Path(path).read_text()
    lines = text.strip().splitlines()
    status = lines[0].strip() if lines else ""
    if status not in RESULT_STATUSES:
        raise CertkitError(f"{path}: unknown result {status!r}")
    values: dict[str, float] = {}
    body = " ".join(lines[1:]).replace("(", " ").replace(")", " ").split()
    for name, v in zip(body[::2], body[1::2], strict=False):
        values[name] = float(v)
    return status, values
