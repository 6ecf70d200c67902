"""Generalisation gaps: train/test clean and adversarial accuracy (TRADES/BN paper, Table 3).

Adversarial accuracy uses PGD (CE loss, ``steps`` steps, ``restarts`` restarts) in the Linf
``eps``-ball, evaluated by :func:`certkit.analysis.adversarial.adversarial_accuracy` (every
adversarial point is re-checked). A gap is ``train - test``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ..errors import CertkitError
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import Run, load_run, write_json_atomic
from .adversarial import adversarial_accuracy


def gaps_run(run: str | Path | Run, *, eps: float | None = None, steps: int = 20,
             restarts: int = 1, n_train: int | None = 2000, n_test: int | None = 2000,
             batch_size: int = 256, data_dir: str | Path | None = None, device: str = "cpu",
             seed: int = 0) -> dict[str, Any]:
    """Clean and PGD accuracy on the first ``n_train`` train / ``n_test`` test points.

    ``eps`` defaults to the run's training eps. Writes ``<run>/analysis/gaps-eps<eps>.{csv,
    png,json}`` and returns the table's numbers (in percent) with the two gaps.
    """
    from ..attacks import PGD

    opened = run if isinstance(run, Run) else load_run(run)
    if eps is None:
        eps = float(opened.meta.get("eps") or 0.0)
    if not math.isfinite(eps) or eps < 0:
        raise CertkitError(f"eps must be a finite number >= 0, got {eps}")
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise CertkitError(f"{name} must be an integer >= 1, got {v!r}")
    dev = torch.device(device)
    model = opened.model.to(dev)
    data = opened.load_data(data_dir)
    atk = PGD(model, eps, steps=steps, restarts=restarts, loss="ce", seed=seed)
    res = {}
    for split, n in (("train", n_train), ("test", n_test)):
        part = getattr(data, split)
        res[split] = adversarial_accuracy(model, part.x[:n], part.y[:n], atk,
                                          batch_size=batch_size, device=dev)
    tr, te = res["train"], res["test"]
    summary: dict[str, Any] = {
        "run": str(opened.path), "eps": eps, "steps": steps, "restarts": restarts,
        "n_train": tr["n"], "n_test": te["n"],
        "train_acc": 100 * tr["clean_accuracy"], "test_acc": 100 * te["clean_accuracy"],
        "gap": 100 * (tr["clean_accuracy"] - te["clean_accuracy"]),
        "adv_train_acc": 100 * tr["robust_accuracy"], "adv_test_acc": 100 * te["robust_accuracy"],
        "adv_gap": 100 * (tr["robust_accuracy"] - te["robust_accuracy"]),
    }
    stem = f"gaps-eps{eps:g}"
    rows = [{"split": s, "clean_accuracy": 100 * r["clean_accuracy"],
             "adversarial_accuracy": 100 * r["robust_accuracy"], "n": r["n"]}
            for s, r in res.items()]
    rows.append({"split": "gap", "clean_accuracy": summary["gap"],
                 "adversarial_accuracy": summary["adv_gap"], "n": ""})
    csv_path = write_csv(analysis_path(opened.path, stem, ".csv"), rows)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    xs = [0, 1]
    ax.bar([v - 0.2 for v in xs], [rows[0]["clean_accuracy"], rows[0]["adversarial_accuracy"]],
           0.4, label="train")
    ax.bar([v + 0.2 for v in xs], [rows[1]["clean_accuracy"], rows[1]["adversarial_accuracy"]],
           0.4, label="test")
    ax.set_xticks(xs, ["clean", f"PGD eps={eps:g}"])
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"gaps: clean {summary['gap']:.2f}, adversarial {summary['adv_gap']:.2f}")
    ax.legend()
    png = save_figure(fig, analysis_path(opened.path, stem, ".png"))
    summary.update(csv=str(csv_path), png=str(png))
    write_json_atomic(analysis_path(opened.path, stem, ".json"), summary)
    return summary
