"""``certify_run``: certify a trained run on its test set, the library side of ``certkit certify``.

Per-sample verdicts go to a JSONL file (written atomically: a complete file or none) in the
run directory, and a one-line summary is appended to the run's ``results.jsonl``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ..bounds import BoundOptions, get_method
from ..errors import CertkitError
from ..runs import append_jsonl, load_run, write_bytes_atomic
from ..specs import L2Ball, LinfBall
from ..specs.base import Spec
from .certify import CertifyResult, certify, summarize

SPECS = ("linf", "l2")


def make_spec(kind: str, x: torch.Tensor, eps: float) -> Spec:
    """The ``kind`` ball (``linf`` or ``l2``) of radius ``eps`` around ``x``, within [0, 1]."""
    if kind == "linf":
        return LinfBall(x, eps)
    if kind == "l2":
        return L2Ball(x, eps)
    raise CertkitError(f"unknown spec {kind!r}; valid: {', '.join(SPECS)}")


def default_output(run_dir: Path, method: str, spec: str, eps: float) -> Path:
    """``<run>/certify-<method>-<spec>-eps<eps>.jsonl``."""
    return run_dir / f"certify-{method}-{spec}-eps{eps:g}.jsonl"


def certify_run(run: str | Path, *, method: str = "crown", eps: float, spec: str = "linf",
                n: int | None = None, data_dir: str | Path | None = None, device: str = "cpu",
                batch_size: int = 100, out: str | Path | None = None,
                options: BoundOptions | None = None) -> dict[str, Any]:
    """Certify the first ``n`` test samples of a run; write per-sample JSONL; return a summary."""
    name = get_method(method).name
    if not math.isfinite(eps) or eps < 0:
        raise CertkitError(f"eps must be a finite number >= 0, got {eps}")
    if spec not in SPECS:
        raise CertkitError(f"unknown spec {spec!r}; valid: {', '.join(SPECS)}")
    if n is not None and n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    if batch_size < 1:
        raise CertkitError(f"batch size must be >= 1, got {batch_size}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise CertkitError(f"unknown device {device!r}") from err
    r = load_run(run)
    test = r.load_data(data_dir).test
    x, y = test.x[:n], test.y[:n]
    if x.shape[0] == 0:
        raise CertkitError("the test split is empty")
    model = r.model.to(dev)
    results: list[CertifyResult] = []
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s:s + batch_size].to(dev), y[s:s + batch_size].to(dev)
        for res in certify(model, xb, yb, make_spec(spec, xb, eps), name, options=options):
            results.append(CertifyResult(**{**res.as_dict(), "index": s + res.index}))
    path = Path(out) if out is not None else default_output(r.path, name, spec, eps)
    rows = [{**res.as_dict(), "method": name, "spec": spec, "eps": eps} for res in results]
    write_bytes_atomic(path, "".join(json.dumps(row, sort_keys=True) + "\n"
                                     for row in rows).encode())
    summary = {"run": str(r.path), "dataset": r.dataset, "method": name, "spec": spec,
               "eps": eps, **summarize(results), "results": str(path)}
    append_jsonl(r.path / "results.jsonl", {"command": "certify", **summary})
    return summary
