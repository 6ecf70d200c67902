"""``certkit demo``: the main job end to end, offline, in minutes.

The demo is a list of steps sharing a context dict; later features (attacks, certification,
sweeps, reports) add steps here without changing the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Step = Callable[[dict[str, Any]], dict[str, Any]]


def _train_standard(ctx: dict[str, Any]) -> dict[str, Any]:
    from .train import train

    res = train(data="digits", model="mlp-3x100", method="standard", epochs=20,
                batch_size=64, lr=2e-3, lr_schedule="cosine", seed=0, device=ctx["device"],
                data_dir=ctx["data_dir"], out=str(ctx["out"] / "standard"), overwrite=True,
                progress=ctx["progress"])
    ctx["standard"] = res.run_dir
    return {"train_acc": res.metrics["train_acc"], "test_acc": res.metrics["test_acc"],
            "examples_per_s": res.metrics["examples_per_s"]}


def _evaluate(ctx: dict[str, Any]) -> dict[str, Any]:
    from .evaluation import evaluate

    r = evaluate(ctx["standard"], device=ctx["device"], data_dir=ctx["data_dir"])
    return {"test_acc": r["accuracy"], "n": r["n"]}


def _train_ibp(ctx: dict[str, Any]) -> dict[str, Any]:
    from .train import train

    res = train(data="digits", model="mlp-3x100", method="ibp", eps=DEMO_EPS, epochs=30,
                eps_schedule="linear", eps_start_epoch=2, eps_ramp_epochs=15, batch_size=64,
                lr=2e-3, seed=0, device=ctx["device"], data_dir=ctx["data_dir"],
                out=str(ctx["out"] / "ibp"), overwrite=True, progress=ctx["progress"])
    ctx["ibp"] = res.run_dir
    return {"train_acc": res.metrics["train_acc"], "test_acc": res.metrics["test_acc"]}


def _attack(ctx: dict[str, Any]) -> dict[str, Any]:
    from .analysis import attack_run

    out = {}
    for name in ("standard", "ibp"):
        r = attack_run(ctx[name], attack="pgd", eps=DEMO_EPS, steps=50, restarts=5,
                       loss="margin", data_dir=ctx["data_dir"], device=ctx["device"])
        out[f"{name}_pgd_acc"] = r["robust_accuracy"]
    return out


def _certify(ctx: dict[str, Any]) -> dict[str, Any]:
    from .verify import certify_run

    out = {}
    for name in ("standard", "ibp"):
        for method in ("ibp", "crown"):
            r = certify_run(ctx[name], method=method, eps=DEMO_EPS, data_dir=ctx["data_dir"],
                            device=ctx["device"])
            out[f"{name}_{method}_certified"] = r["certified_accuracy"]
    return out


def _train_sabr(ctx: dict[str, Any]) -> dict[str, Any]:
    from .train import train

    res = train(data="digits", model="mlp-3x100", method="sabr", eps=DEMO_EPS, epochs=12,
                eps_schedule="linear", eps_start_epoch=1, eps_ramp_epochs=6, batch_size=64,
                lr=2e-3, attack_steps=5, seed=0, device=ctx["device"],
                data_dir=ctx["data_dir"], out=str(ctx["out"] / "sabr"), overwrite=True,
                progress=ctx["progress"])
    ctx["sabr"] = res.run_dir
    return {"train_acc": res.metrics["train_acc"], "test_acc": res.metrics["test_acc"]}


def _sweep(ctx: dict[str, Any]) -> dict[str, Any]:
    from .analysis.sweep import sweep

    res = sweep([ctx[k] for k in ("standard", "ibp", "sabr")], method="crown", eps_max=0.2,
                points=400, shifts=("blur", "rotation", "scaling"), data_dir=ctx["data_dir"],
                device=ctx["device"])  # overlays go to standard/analysis/ (in the report)
    out: dict[str, Any] = {}
    for label, s in res["runs"].items():
        out[f"{label}_auc"] = s["auc"]
        out[f"{label}_calls_per_sample"] = s["calls_per_sample"]
    return out


def _ood(ctx: dict[str, Any]) -> dict[str, Any]:
    from .analysis.ood_run import ood_run

    res = ood_run(ctx["standard"], ood=("uniform-noise", "permuted"), n_cert=100, points=400,
                  data_dir=ctx["data_dir"], device=ctx["device"])
    return {f"{r['detector']}_{r['ood']}_auroc": r["auroc"] for r in res["rows"]}


def _report(ctx: dict[str, Any]) -> dict[str, Any]:
    from .report import build_report

    path = build_report([ctx[k] for k in ("standard", "ibp", "sabr")],
                        ctx["out"] / "report.html", title="certkit demo")
    return {"report": str(path), "kib": round(path.stat().st_size / 1024, 1)}


DEMO_EPS = 0.05

STEPS: list[tuple[str, Step]] = [
    ("train standard mlp-3x100 on digits", _train_standard),
    ("evaluate the trained run", _evaluate),
    (f"train IBP mlp-3x100 on digits (eps {DEMO_EPS})", _train_ibp),
    (f"PGD-50x5 attack at eps {DEMO_EPS}", _attack),
    (f"certify IBP and CROWN at eps {DEMO_EPS}", _certify),
    (f"train SABR mlp-3x100 on digits (eps {DEMO_EPS})", _train_sabr),
    ("certification ROC sweep (CROWN, 400 eps, 3 shifts)", _sweep),
    ("OOD detection vs uniform noise and permuted digits", _ood),
    ("HTML report", _report),
]


def demo(out: str | Path = "runs/demo", *, data_dir: str | Path | None = None,
         device: str = "cpu", threads: int | None = 1, progress: bool = True,
         log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every demo step; returns ``{step name: its summary}`` plus the total seconds.

    ``threads`` sets torch's intra-op threads for the demo (restored afterwards): its
    networks are tiny, and one thread is fastest for them, most of all on a busy machine.
    """
    ctx: dict[str, Any] = {"out": Path(out), "data_dir": data_dir, "device": device,
                           "progress": progress}
    summary: dict[str, Any] = {}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        for name, step in STEPS:
            if log:
                log(f"demo: {name}")
            summary[name] = step(ctx)
    finally:
        torch.set_num_threads(before)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["run_dir"] = str(ctx["out"])
    return summary
