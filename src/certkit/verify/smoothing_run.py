"""``smoothing_run``: randomized-smoothing certification of a run's test set.

Writes, into ``<run>/analysis/``: ``smoothing-sigma<s>.jsonl`` (one row per sample: label,
prediction, radius, p_A, seconds), ``smoothing-sigma<s>.csv`` (certified accuracy vs L2
radius) and ``smoothing-sigma<s>.png`` (the curve); every file is written atomically once
all samples are done, and a summary line is appended to the run's ``results.jsonl``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import CertkitError
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import Run, append_jsonl, load_run, write_bytes_atomic
from .smoothing import ABSTAIN, Smoothed, accuracy_curve, certified_accuracy, max_radius

SUMMARY_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def _grid(r_max: float, points: int = 101) -> list[float]:
    return [float(v) for v in np.linspace(0.0, max(r_max, 1e-9), points)]


def smoothing_run(run: str | Path | Run, *, sigma: float, n0: int = 100, n: int = 100_000,
                  alpha: float = 0.001, num: int | None = None, batch_size: int = 1000,
                  data_dir: str | Path | None = None, device: str = "cpu", seed: int = 0,
                  out: str | Path | None = None) -> dict[str, Any]:
    """Certify the first ``num`` test samples of ``run`` with CERTIFY(n0, n, alpha) at ``sigma``.

    ``out`` overrides the per-sample JSONL path. Returns a summary: clean accuracy of the
    base model, accuracy and abstain rate of the smoothed classifier, certified accuracy at
    a few L2 radii, the largest reportable radius and seconds per sample.
    """
    if num is not None and (isinstance(num, bool) or int(num) != num or num < 1):
        raise CertkitError(f"num must be an integer >= 1, got {num!r}")
    dev = resolve_device(device)
    opened = run if isinstance(run, Run) else load_run(run)
    model = opened.model.to(dev).eval()
    smoothed = Smoothed(model, int(opened.meta["num_classes"]), sigma, batch_size=batch_size,
                        seed=seed, device=dev)
    r_max = max_radius(sigma, n, alpha)  # also validates n and alpha
    test = opened.load_data(data_dir).test
    x, y = test.x[:num], test.y[:num]

    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with torch.no_grad():
        base_pred = model(x.to(dev)).argmax(1).cpu()
    for i in range(x.shape[0]):
        t0 = time.perf_counter()
        cert = smoothed.certify(x[i], n0=n0, n=n, alpha=alpha)
        rows.append({"index": i, "label": int(y[i]), "prediction": cert.label,
                     "radius": cert.radius, "p_lower": cert.p_lower, "count": cert.count,
                     "correct": cert.label == int(y[i]), "abstain": cert.abstained,
                     "seconds": time.perf_counter() - t0})
    seconds = time.perf_counter() - start

    name = f"smoothing-sigma{sigma:g}"
    jsonl = Path(out) if out is not None else analysis_path(opened.path, name, ".jsonl")
    write_bytes_atomic(jsonl, "".join(json.dumps(r, sort_keys=True) + "\n"
                                      for r in rows).encode())
    labels = [r["prediction"] for r in rows]
    radii = [r["radius"] for r in rows]
    targets = [r["label"] for r in rows]
    curve = accuracy_curve(labels, radii, targets, _grid(r_max))
    csv_path = write_csv(analysis_path(opened.path, name, ".csv"),
                         [{"radius": r, "certified_accuracy": a} for r, a in curve])
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([r for r, _ in curve], [a for _, a in curve])
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"randomized smoothing, sigma={sigma:g}, n={n}, alpha={alpha:g}")
    png = save_figure(fig, analysis_path(opened.path, name, ".png"))

    count = len(rows)
    correct_radii = [r["radius"] for r in rows if r["correct"]]
    summary: dict[str, Any] = {
        "run": str(opened.path), "method": "smoothing", "sigma": sigma, "n0": n0, "n": n,
        "alpha": alpha, "num": count, "device": str(dev),
        "clean_accuracy": int((base_pred == y).sum()) / count if count else 0.0,
        "smoothed_accuracy": certified_accuracy(labels, radii, targets, 0.0),
        "abstain_rate": sum(lab == ABSTAIN for lab in labels) / count if count else 0.0,
        "mean_radius_correct": float(np.mean(correct_radii)) if correct_radii else 0.0,
        "max_radius": r_max,
        **{f"certified_accuracy@{r:g}": certified_accuracy(labels, radii, targets, r)
           for r in SUMMARY_RADII},
        "seconds": seconds, "seconds_per_sample": seconds / count if count else 0.0,
        "results": str(jsonl), "csv": str(csv_path), "png": str(png),
    }
    append_jsonl(opened.path / "results.jsonl",
                 {k: v for k, v in summary.items() if not (isinstance(v, float)
                                                           and math.isinf(v))})
    return summary
