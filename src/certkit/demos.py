"""``certkit demo``: the main job end to end, offline, in minutes.

The demo is a list of steps sharing a context dict; later features (attacks, certification,
sweeps, reports) add steps here without changing the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


STEPS: list[tuple[str, Step]] = [
    ("train standard mlp-3x100 on digits", _train_standard),
    ("evaluate the trained run", _evaluate),
]


def demo(out: str | Path = "runs/demo", *, data_dir: str | Path | None = None,
         device: str = "cpu", progress: bool = True,
         log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every demo step; returns ``{step name: its summary}`` plus the total seconds."""
    ctx: dict[str, Any] = {"out": Path(out), "data_dir": data_dir, "device": device,
                           "progress": progress}
    summary: dict[str, Any] = {}
    t0 = time.perf_counter()
    for name, step in STEPS:
        if log:
            log(f"demo: {name}")
        summary[name] = step(ctx)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["run_dir"] = str(ctx["out"])
    return summary
