"""``certkit verify`` as library functions: one instance, or a whole VNN-COMP benchmark.

:func:`verify_instance` loads the ONNX network (checked against onnxruntime) and the
VNN-LIB property, verifies within ``timeout`` seconds counted from the start of loading,
and writes the VNN-COMP result file. :func:`verify_instances` runs every row of an
``instances.csv`` and writes a results CSV (written atomically after every instance, so an
interrupted run leaves the rows finished so far).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import CertkitError
from ...io.onnx import load_onnx
from ...io.vnncomp import Instance, read_instances, write_result, write_text_atomic
from ...io.vnnlib import parse_vnnlib
from .result import Verdict
from .verifier import VerifyOptions, verify

RESULT_COLUMNS = ("instance", "onnx", "vnnlib", "timeout", "verdict", "seconds", "method")


def verify_instance(onnx: str | Path, vnnlib: str | Path, timeout: float,
                    out: str | Path | None = None,
                    options: VerifyOptions | None = None) -> Verdict:
    """Verify one instance and (with ``out``) write its VNN-COMP result file.

    Bad input files raise :class:`CertkitError` (after writing ``error`` to ``out``).
    """
    if not timeout > 0:
        raise CertkitError(f"the timeout must be positive, got {timeout}")
    start = time.monotonic()
    try:
        prop = parse_vnnlib(vnnlib)
        box = (prop.regions[0].lower, prop.regions[0].upper) if prop.regions else None
        net = load_onnx(onnx, box=box)
        verdict = verify(net, prop, timeout=timeout, options=options, start=start)
    except (CertkitError, OSError) as err:
        if out is not None:
            write_result(out, "error")
        if isinstance(err, CertkitError):
            raise
        raise CertkitError(str(err)) from err
    if out is not None:
        cex = verdict.counterexample
        write_result(out, verdict.status, None if cex is None else cex.x,
                     None if cex is None else cex.y)
    return verdict


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def verify_instances(instances: str | Path, benchmark_dir: str | Path | None = None,
                     results: str | Path = "results.csv", *, timeout: float | None = None,
                     limit: int | None = None, out_dir: str | Path | None = None,
                     options: VerifyOptions | None = None,
                     progress: Callable[[int, int, Instance, Verdict], None] | None = None
                     ) -> list[dict[str, Any]]:
    """Run the rows of ``instances`` (paths relative to ``benchmark_dir``, default the CSV's
    folder); ``timeout`` overrides the CSV's, ``limit`` keeps the first rows. Every instance
    ends with a verdict (input errors give ``error``); returns the rows of the results CSV.
    """
    instances = Path(instances)
    base = Path(benchmark_dir) if benchmark_dir is not None else instances.parent
    todo = read_instances(instances)[:limit] if limit is not None else read_instances(instances)
    opts = options or VerifyOptions()
    rows: list[dict[str, Any]] = []
    for i, inst in enumerate(todo):
        t = timeout if timeout is not None else inst.timeout
        out = None
        if out_dir is not None:
            out = Path(out_dir) / f"{i:04d}_{inst.name.replace(':', '_')}.txt"
        t0 = time.monotonic()
        try:
            verdict = verify_instance(base / inst.onnx, base / inst.vnnlib, t, out, opts)
        except CertkitError as err:
            verdict = Verdict("error", time.monotonic() - t0, message=str(err))
        rows.append({"instance": inst.name, "onnx": inst.onnx, "vnnlib": inst.vnnlib,
                     "timeout": t, "verdict": verdict.status,
                     "seconds": round(time.monotonic() - t0, 3), "method": verdict.method})
        write_text_atomic(results, _csv(rows))
        if progress is not None:
            progress(i, len(todo), inst, verdict)
    return rows
