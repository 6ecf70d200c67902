"""``certkit ood``: OOD detectors and the certificate on a run, in Franco et al.'s Table 5 layout.

Detectors are fitted on (a subset of) the run's training split and scored on its test split
(ID) and on each OOD set. The certificate detector, being costly, uses only the first
``n_cert`` samples of each side (as the paper does with GPUPoly's 1,000). Outputs in
``<run>/analysis/``: ``ood.csv`` (one row per detector, AUROC and FPR95 per OOD set, in
percent), ``ood.json`` (long rows plus settings) and ``ood.png`` (ROC curves).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CertkitError
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import append_jsonl, load_run, write_json_atomic
from .ood import detector_names, make_detector, ood_set
from .roc import detection_metrics


def _roc_points(id_scores: np.ndarray, ood_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) with OOD as positive, thresholds at every distinct score."""
    thr = np.unique(np.concatenate([id_scores, ood_scores]))[::-1]
    tpr = (ood_scores[None, :] >= thr[:, None]).mean(1)
    fpr = (id_scores[None, :] >= thr[:, None]).mean(1)
    return np.concatenate([[0.0], fpr, [1.0]]), np.concatenate([[0.0], tpr, [1.0]])


def _detector_options(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    keys = {"odin": ("temperature", "magnitude"), "energy": ("temperature",),
            "mahalanobis": ("magnitude", "shrinkage"),
            "certificate": ("method", "eps_max", "points", "workers")}
    prefix = {"odin": "odin_", "energy": "energy_", "mahalanobis": "maha_", "certificate": ""}
    return {k: opts[prefix[name] + k] for k in keys.get(name, ())
            if prefix.get(name, "") + k in opts}


def ood_run(run: str | Path, *, ood: Sequence[str] = ("uniform-noise",),
            detectors: Sequence[str] | None = None, n: int | None = None,
            n_fit: int | None = 10000, n_cert: int = 1000, method: str = "crown",
            eps_max: float = 0.2, points: int = 4000, odin_temperature: float = 1000.0,
            odin_magnitude: float = 0.0014, maha_magnitude: float = 0.0,
            maha_shrinkage: float = 0.0, energy_temperature: float = 1.0,
            data_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 256,
            seed: int = 0, workers: int = 1) -> dict[str, Any]:
    """AUROC / FPR95 of every detector for every OOD set; writes the table and plots.

    ``workers`` > 1 runs the certificate's searches in that many processes (CPU).
    """
    from ..devices import resolve_device

    names = list(detectors) if detectors is not None else detector_names()
    for d in names:
        if d not in detector_names():
            raise CertkitError(f"unknown OOD detector {d!r}; valid: "
                               f"{', '.join(detector_names())}")
    if not ood:
        raise CertkitError("give at least one OOD set (--ood)")
    for k, v in (("n", n), ("n_fit", n_fit)):
        if v is not None and v < 1:
            raise CertkitError(f"{k} must be >= 1, got {v}")
    if n_cert < 1:
        raise CertkitError(f"n_cert must be >= 1, got {n_cert}")
    dev = resolve_device(device)
    r = load_run(run)
    model = r.model.to(dev)
    data = r.load_data(data_dir)
    x_id = data.test.x[:n]
    fit_x, fit_y = data.train.x[:n_fit], data.train.y[:n_fit]
    sets = {name: ood_set(name, x_id, x_id.shape[0], seed=seed, data_dir=data_dir)
            for name in ood}
    opts = {"odin_temperature": odin_temperature, "odin_magnitude": odin_magnitude,
            "maha_magnitude": maha_magnitude, "maha_shrinkage": maha_shrinkage,
            "energy_temperature": energy_temperature, "method": method,
            "eps_max": eps_max, "points": points, "workers": workers}
    with torch.no_grad():
        acc = float((model(x_id.to(dev)).argmax(1).cpu() == data.test.y[:n]).float().mean())
    long_rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {s: {} for s in sets}
    for name in names:
        det = make_detector(name, model, batch_size=batch_size,
                            **_detector_options(name, opts))
        start = time.perf_counter()
        det.fit((fit_x.to(dev), fit_y.to(dev)))
        limit = n_cert if name == "certificate" else None
        s_id = det(x_id[:limit].to(dev)).numpy()
        for set_name, x_ood in sets.items():
            s_ood = det(x_ood[:limit].to(dev)).numpy()
            m = detection_metrics(s_id, s_ood)
            long_rows.append({"detector": name, "ood": set_name, "auroc": m["auroc"],
                              "fpr95": m["fpr95"], "n_id": int(s_id.size),
                              "n_ood": int(s_ood.size)})
            curves[set_name][det.title] = _roc_points(s_id, s_ood)
        seconds = time.perf_counter() - start
        for lr in long_rows:
            if lr["detector"] == name:
                lr["seconds"] = seconds
    table = []
    for name in names:
        row: dict[str, Any] = {"detector": make_detector_title(name)}
        for lr in long_rows:
            if lr["detector"] == name:
                row[f"{lr['ood']} AUROC"] = round(100 * lr["auroc"], 1)
                row[f"{lr['ood']} FPR95"] = round(100 * lr["fpr95"], 1)
        table.append(row)
    write_csv(analysis_path(r.path, "ood", ".csv"), table)
    _plot(curves, analysis_path(r.path, "ood", ".png"), f"{r.path.name} (acc {acc:.3f})")
    summary = {"run": str(r.path), "dataset": r.dataset, "accuracy": acc,
               "n_id": int(x_id.shape[0]), "n_cert": n_cert, "settings": opts,
               "rows": long_rows}
    write_json_atomic(analysis_path(r.path, "ood", ".json"), summary)
    append_jsonl(r.path / "results.jsonl", {"command": "ood", "run": str(r.path),
                                            "accuracy": acc, "table": table})
    return {**summary, "table": table}


def make_detector_title(name: str) -> str:
    """The display title of detector ``name``."""
    from .ood import DETECTORS

    return DETECTORS[name].title


def _plot(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path,
          title: str) -> Path:
    fig = new_figure(4.2 * len(curves), 4.0)
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (set_name, by_det) in zip(axes, curves.items(), strict=True):
        for det, (fpr, tpr) in by_det.items():
            ax.plot(fpr, tpr, label=det)
        ax.plot([0, 1], [0, 1], ":", color="gray")
        ax.set(xlabel="FPR (ID taken for OOD)", ylabel="TPR (OOD detected)",
               title=f"OOD: {set_name}", xlim=(0, 1), ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path)
