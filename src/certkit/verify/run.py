"""``certify_run``: certify a trained run on its test set, the library side of ``certkit certify``.

Per-sample verdicts go to a JSONL file (written atomically: a complete file or none) in the
run directory, and a one-line summary is appended to the run's ``results.jsonl``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..bounds import BoundOptions, get_method
from ..devices import resolve_device
from ..errors import CertkitError
from ..runs import append_jsonl, load_run, write_bytes_atomic
from ..specs import BiasField, Brightness, Contrast, L2Ball, LinfBall
from ..specs.base import Spec
from .certify import CertifyResult, certify, summarize

SPECS = ("linf", "l2", "biasfield", "brightness", "contrast")
BIAS_SPECS = ("biasfield", "brightness", "contrast")
FIELDS = ("multiplicative", "additive", "both")  # which bias fields --spec biasfield uses

SpecFactory = Callable[[torch.Tensor], Spec]


def spec_factory(kind: str, eps: float, *, order: int = 3,
                 field: str = "multiplicative") -> SpecFactory:
    """A factory ``x -> Spec`` for ``kind``: an Linf/L2 ball of radius ``eps`` within [0, 1],
    or a bias field (``order``, ``field`` = multiplicative/additive/both; see
    :mod:`certkit.specs.biasfield`), brightness or contrast of strength ``eps``."""
    if kind == "linf":
        return lambda x: LinfBall(x, eps)
    if kind == "l2":
        return lambda x: L2Ball(x, eps)
    if kind == "brightness":
        return Brightness(eps)
    if kind == "contrast":
        return Contrast(eps)
    if kind == "biasfield":
        if field not in FIELDS:
            raise CertkitError(f"unknown bias field {field!r}; valid: {', '.join(FIELDS)}")
        return BiasField(order=order, eps=eps, multiplicative=field != "additive",
                         additive=field != "multiplicative")
    raise CertkitError(f"unknown spec {kind!r}; valid: {', '.join(SPECS)}")


def make_spec(kind: str, x: torch.Tensor, eps: float, *, order: int = 3,
              field: str = "multiplicative") -> Spec:
    """The ``kind`` set around ``x`` (see :func:`spec_factory`)."""
    return spec_factory(kind, eps, order=order, field=field)(x)


def spec_label(kind: str, order: int = 3, field: str = "multiplicative") -> str:
    """``kind``, with the order (and a non-default field) for bias fields: ``biasfield3``."""
    if kind != "biasfield":
        return kind
    return f"biasfield{order}" + ("" if field == "multiplicative" else f"-{field}")


def default_output(run_dir: Path, method: str, spec: str, eps: float) -> Path:
    """``<run>/certify-<method>-<spec>-eps<eps>.jsonl``."""
    return run_dir / f"certify-{method}-{spec}-eps{eps:g}.jsonl"


def certify_run(run: str | Path, *, method: str = "crown", eps: float, spec: str = "linf",
                n: int | None = None, data_dir: str | Path | None = None, device: str = "cpu",
                batch_size: int = 100, out: str | Path | None = None,
                options: BoundOptions | None = None, order: int = 3,
                field: str = "multiplicative") -> dict[str, Any]:
    """Certify the first ``n`` test samples of a run; write per-sample JSONL; return a summary.

    ``spec`` is one of :data:`SPECS`; ``order`` and ``field`` set the bias field of
    ``spec="biasfield"`` (its ``eps`` is the coefficient radius as a fraction).
    """
    name = get_method(method).name
    if not math.isfinite(eps) or eps < 0:
        raise CertkitError(f"eps must be a finite number >= 0, got {eps}")
    factory = spec_factory(spec, eps, order=order, field=field)
    label = spec_label(spec, order, field)
    if n is not None and n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    if batch_size < 1:
        raise CertkitError(f"batch size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    r = load_run(run)
    test = r.load_data(data_dir).test
    x, y = test.x[:n], test.y[:n]
    if x.shape[0] == 0:
        raise CertkitError("the test split is empty")
    model = r.model.to(dev)
    results: list[CertifyResult] = []
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s:s + batch_size].to(dev), y[s:s + batch_size].to(dev)
        for res in certify(model, xb, yb, factory(xb), name, options=options):
            results.append(CertifyResult(**{**res.as_dict(), "index": s + res.index}))
    path = Path(out) if out is not None else default_output(r.path, name, label, eps)
    extra: dict[str, Any] = {"order": order, "field": field} if spec == "biasfield" else {}
    rows = [{**res.as_dict(), "method": name, "spec": spec, "eps": eps, **extra}
            for res in results]
    write_bytes_atomic(path, "".join(json.dumps(row, sort_keys=True) + "\n"
                                     for row in rows).encode())
    summary = {"run": str(r.path), "dataset": r.dataset, "method": name, "spec": spec,
               "eps": eps, **extra, **summarize(results), "results": str(path)}
    append_jsonl(r.path / "results.jsonl", {"command": "certify", **summary})
    return summary
