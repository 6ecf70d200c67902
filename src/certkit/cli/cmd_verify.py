"""``certkit verify``: complete verification of ONNX networks against VNN-LIB properties."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, JsonOpt, console, emit, run_guarded


def _single(net: Path, prop: Path, timeout: float, out: Path | None,
            options: Any) -> dict[str, Any]:
    from ..verify.complete.instances import verify_instance

    v = verify_instance(net, prop, timeout, out, options)
    summary: dict[str, Any] = {"verdict": v.status, "seconds": round(v.seconds, 3),
                               "method": v.method}
    if v.counterexample is not None:
        summary["counterexample_x"] = [float(a) for a in v.counterexample.x]
        summary["counterexample_y"] = [float(a) for a in v.counterexample.y]
    summary.update({k: v for k, v in v.stats.items()})
    if out is not None:
        summary["result_file"] = str(out)
    return summary


def _many(instances: Path, benchmark_dir: Path | None, results: Path, timeout: float | None,
          limit: int | None, out: Path | None, options: Any) -> dict[str, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ..io.vnncomp import read_instances
    from ..verify.complete.instances import verify_instances

    total = len(read_instances(instances)[:limit] if limit is not None else
                read_instances(instances))
    counts: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("verifying", total=total)

        def tick(i: int, n: int, inst: Any, verdict: Any) -> None:
            counts[verdict.status] = counts.get(verdict.status, 0) + 1
            text = " ".join(f"{k}={c}" for k, c in sorted(counts.items()))
            bar.update(task, advance=1, description=f"{inst.name[:40]:40s} {text}")

        rows = verify_instances(instances, benchmark_dir, results, timeout=timeout, limit=limit,
                                out_dir=out, options=options, progress=tick)
    secs = sorted(float(r["seconds"]) for r in rows)
    summary: dict[str, Any] = {"instances": len(rows)}
    for status in ("sat", "unsat", "timeout", "unknown", "error"):
        summary[status] = sum(r["verdict"] == status for r in rows)
    summary["total_seconds"] = round(sum(secs), 2)
    summary["median_seconds"] = round(secs[len(secs) // 2], 3) if secs else 0.0
    summary["results_csv"] = str(results)
    return summary


def verify_command(
    net: Annotated[Path | None, typer.Argument(help="ONNX network.")] = None,
    prop: Annotated[Path | None, typer.Argument(help="VNN-LIB property.")] = None,
    timeout: Annotated[float | None, typer.Option(
        help="Wall-clock limit in seconds (with --instances: overrides the CSV's).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Result file (VNN-COMP format); with --instances a folder of result files.")] = None,
    instances: Annotated[Path | None, typer.Option(
        help="A VNN-COMP instances.csv (onnx,vnnlib,timeout) to run instead of one pair.")] = None,
    benchmark_dir: Annotated[Path | None, typer.Option(
        help="Folder the instances' paths are relative to (default: the CSV's).")] = None,
    results: Annotated[Path, typer.Option(help="Results CSV of --instances.")] = Path(
        "results.csv"),
    limit: Annotated[int | None, typer.Option(help="Only the first N instances.")] = None,
    strategy: Annotated[str, typer.Option(
        help="auto, input (input splitting), relu (ReLU splitting) or milp.")] = "auto",
    bounder: Annotated[str, typer.Option(
        help="Input splitting's bounds: auto, chain (dense CROWN) or engine.")] = "auto",
    method: Annotated[str, typer.Option(
        help="Bound engine method when --bounder engine (crown, alpha-crown, ...).")] = "crown",
    seed: Annotated[int, typer.Option(help="Seed of the attack.")] = 0,
    workers: Annotated[int, typer.Option(
        help="ReLU splitting: processes for the subdomains a 1 s search per group leaves "
             "open (same verdicts as 1).")] = 1,
    refine_share: Annotated[float, typer.Option(
        help="ReLU splitting on dense networks: share of the time spent refining the "
             "root's intermediate bounds by MILP when a first search (a tenth of the "
             "time) leaves groups open; 0: never.")] = 0.4,
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Decide a VNN-LIB property on an ONNX network: sat (with a counterexample confirmed in
    onnxruntime), unsat (proven), timeout or unknown. Exit code 0 for every verdict."""

    def go() -> dict[str, Any]:
        from ..errors import CertkitError
        from ..verify.complete import VerifyOptions

        options = VerifyOptions(strategy=strategy, bounder=bounder, method=method, seed=seed,
                                workers=workers, refine_share=refine_share)
        options.check()
        if limit is not None and limit < 1:
            raise CertkitError("--limit must be at least 1")
        if instances is not None:
            if net is not None or prop is not None:
                raise CertkitError("give either NET PROP or --instances, not both")
            return _many(instances, benchmark_dir, results, timeout, limit, out, options)
        if net is None or prop is None:
            raise CertkitError("give NET.onnx and PROP.vnnlib (or --instances CSV)")
        if timeout is None:
            raise CertkitError("--timeout is required for a single instance")
        return _single(net, prop, timeout, out, options)

    summary = run_guarded(go, debug)
    emit(summary, json, "certkit verify")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("verify")(verify_command)
