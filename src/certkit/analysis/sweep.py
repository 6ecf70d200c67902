"""``certkit sweep``: the certification ROC of runs over an eps grid, plus distribution shifts.

Per run it writes into ``<run>/analysis/``: ``roc-<method>.csv`` (one row per grid eps:
CC, CI, CCR, CIR, TPR, FPR), ``roc-<method>.json`` (AUC, accuracy, eps at the target CIR,
verifier calls, time), ``roc-<method>.png`` (the paper's Figure 3 panels) and, with
``shifts``, ``shifts-<method>.csv`` (AUC / ACC per shifted test set, Table 3). With several
runs an overlay ``roc-compare-<method>.png`` and a ``shifts-compare-<method>.csv`` go to
``out`` (default: the first run's analysis folder).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import CertkitError
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import Run, append_jsonl, load_run, write_json_atomic
from .max_eps import eps_grid, max_robust_eps
from .roc import CertRoc, certification_roc
from .shifts import SHIFT_RANGES, apply_shift


def roc_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, method: str,
           grid: torch.Tensor, batch_size: int | None = None,
           bracket: bool = False, **search: Any) -> CertRoc:
    """The exact certification ROC of ``model`` on ``(x, y)`` over ``grid``.

    ``search`` goes to :func:`certkit.analysis.max_eps.max_robust_eps` (``workers``,
    ``search``, ``precision``).
    """
    start = time.perf_counter()
    r = max_robust_eps(model, x, method, grid=grid, batch_size=batch_size, bracket=bracket,
                       **search)
    roc = certification_roc(r.radius(), r.pred == y.cpu(), grid)
    roc.extra.update({"calls_per_sample": r.calls, "attack_calls_per_sample": r.attack_calls,
                      "seconds": time.perf_counter() - start,
                      "method": method, "points": int(grid.numel()),
                      "eps_max": float(grid[-1])})
    return roc


def plot_rocs(curves: dict[str, CertRoc], path: Path, title: str = "") -> Path:
    """Figure 3 of the paper: CCR/CIR vs eps, CCR vs CIR, TPR vs FPR, one line per run."""
    fig = new_figure(13.5, 4.2)
    a, b, c = fig.subplots(1, 3)
    for label, roc in curves.items():
        (line,) = a.plot(roc.eps, roc.ccr, label=f"{label} CCR")
        a.plot(roc.eps, roc.cir, "--", color=line.get_color(), label=f"{label} CIR")
        b.plot(roc.cir, roc.ccr, color=line.get_color(), label=label)
        c.plot(roc.fpr, roc.tpr, color=line.get_color(), label=f"{label} (AUC {roc.auc():.3f})")
    a.set(xlabel="eps", ylabel="rate", title="CCR and CIR vs eps")
    b.set(xlabel="CIR", ylabel="CCR", title="CCR vs CIR")
    c.plot([0, 1], [0, 1], ":", color="gray")
    c.set(xlabel="FPR", ylabel="TPR", title="TPR vs FPR", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (a, b, c):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _label(run: Run) -> str:
    return run.path.name or str(run.path)


def sweep(runs: str | Path | Sequence[str | Path], *, method: str = "crown",
          eps_max: float = 0.2, points: int = 4000, n: int | None = None,
          data_dir: str | Path | None = None, device: str = "cpu",
          batch_size: int | None = None,
          target_cir: float = 0.01, shifts: Sequence[str] = (), seed: int = 0,
          out: str | Path | None = None, bracket: bool = True, workers: int = 1,
          search: str = "interpolate", precision: str = "mixed") -> dict[str, Any]:
    """Certification ROC of every run on its first ``n`` test samples; returns the summaries.

    ``bracket``: bound each certificate search by a cheap PGD bisection first; ``workers``,
    ``search`` and ``precision``: see :func:`certkit.analysis.max_eps.max_robust_eps`.
    """
    from ..bounds import get_method
    from ..devices import resolve_device

    paths = [runs] if isinstance(runs, str | Path) else list(runs)
    if not paths:
        raise CertkitError("sweep needs at least one run directory")
    if method != "pgd":
        method = get_method(method).name
    for s in shifts:
        if s not in SHIFT_RANGES:
            raise CertkitError(f"unknown shift {s!r}; valid: {', '.join(SHIFT_RANGES)}")
    if n is not None and n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    if not 0 <= target_cir <= 1:
        raise CertkitError(f"target CIR must be in [0, 1], got {target_cir}")
    grid = eps_grid(eps_max, points)
    dev = resolve_device(device)
    curves: dict[str, CertRoc] = {}
    shift_rows: dict[str, dict[str, Any]] = {}
    summaries: dict[str, Any] = {}
    for p in paths:
        run = load_run(p)
        model = run.model.to(dev)
        test = run.load_data(data_dir).test
        x, y = test.x[:n].to(dev), test.y[:n]
        label = _label(run)
        if label in curves:
            label = str(run.path)
        opts = {"workers": workers, "search": search, "precision": precision}
        roc = roc_of(model, x, y, method, grid, batch_size, bracket, **opts)
        curves[label] = roc
        summary = {"run": str(run.path), **roc.summary(target_cir)}
        write_csv(analysis_path(run.path, f"roc-{method}", ".csv"), roc.rows())
        plot_rocs({label: roc}, analysis_path(run.path, f"roc-{method}", ".png"),
                  f"{label}: certification ROC ({method})")
        rows = []
        for name in shifts:
            xs, _ = apply_shift(x.cpu(), name, seed)
            sroc = roc_of(model, xs.to(dev), y, method, grid, batch_size, bracket, **opts)
            lo, hi = SHIFT_RANGES[name]
            rows.append({"shift": name, "size": f"[{lo:g}, {hi:g}]", "auc": sroc.auc(),
                         "accuracy": sroc.accuracy})
            shift_rows.setdefault(name, {"shift": name, "size": f"[{lo:g}, {hi:g}]"}).update(
                {f"{label} AUC": sroc.auc(), f"{label} ACC": sroc.accuracy})
        if rows:
            rows.insert(0, {"shift": "unperturbed", "size": "-", "auc": roc.auc(),
                            "accuracy": roc.accuracy})
            write_csv(analysis_path(run.path, f"shifts-{method}", ".csv"), rows)
            summary["shifts"] = rows
        write_json_atomic(analysis_path(run.path, f"roc-{method}", ".json"), summary)
        append_jsonl(run.path / "results.jsonl",
                     {"command": "sweep", **{k: v for k, v in summary.items() if k != "shifts"}})
        summaries[label] = summary
    result: dict[str, Any] = {"method": method, "eps_max": eps_max, "points": points,
                              "runs": summaries}
    if len(curves) > 1:
        first = load_run(paths[0]).path
        folder = Path(out) if out is not None else first / "analysis"
        folder.mkdir(parents=True, exist_ok=True)
        result["compare_png"] = str(plot_rocs(curves, folder / f"roc-compare-{method}.png",
                                              f"certification ROC ({method})"))
        if shift_rows:
            unperturbed = {"shift": "unperturbed", "size": "-"}
            for label, roc in curves.items():
                unperturbed.update({f"{label} AUC": roc.auc(), f"{label} ACC": roc.accuracy})
            path = folder / f"shifts-compare-{method}.csv"
            result["compare_shifts_csv"] = str(write_csv(path, [unperturbed,
                                                                *shift_rows.values()]))
    return result
