"""VNN-COMP benchmarks: certkit's complete verifier beside Marabou on the same instances.

    .venv/bin/python benchmarks/vnncomp.py --benchmark acasxu --limit 20 --stride 9 \
        --timeout 60 --marabou

runs every ``stride``-th row of ``<benchmarks>/<benchmark>/instances.csv`` (up to
``limit`` of them) with the given timeout (default: the CSV's, 116 s for ACAS Xu), prints
the verdict of each tool per instance and a summary table (sat / unsat / timeout / other,
total and median seconds), lists every disagreement (a sat against an unsat is a bug), and
writes the rows to ``--results`` (CSV). Marabou (``pip install maraboupy==2.0.0``) runs in
this process with one worker and the same timeout; it is skipped when not installed.
On two cores the tools can run side by side, one process each, and be joined afterwards:

    .venv/bin/python benchmarks/vnncomp.py --tools certkit --results ck.csv &
    .venv/bin/python benchmarks/vnncomp.py --tools marabou --results mb.csv
    .venv/bin/python benchmarks/vnncomp.py --combine ck.csv mb.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from certkit.io.vnncomp import Instance, read_instances
from certkit.verify.complete import VerifyOptions
from certkit.verify.complete.instances import verify_instance
from vnncomp_reference import confirm_counterexample, file_key, published_counts, reference_verdicts

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def run_certkit(root: Path, inst: Instance, timeout: float, opts: VerifyOptions) -> tuple[str,
                                                                                        float]:
    """certkit's verdict and wall-clock seconds (loading included)."""
    t0 = time.monotonic()
    try:
        v = verify_instance(root / inst.onnx, root / inst.vnnlib, timeout, options=opts)
        status = v.status
    except Exception as err:  # report, don't stop the benchmark
        print(f"  certkit error: {err}", file=sys.stderr)
        status = "error"
    return status, time.monotonic() - t0


def run_marabou(root: Path, inst: Instance, timeout: float) -> tuple[str, float]:
    """Marabou's verdict (sat / unsat / timeout / error / ...) and wall-clock seconds.

    A sat whose counterexample onnxruntime does not confirm is reported as ``sat-wrong``
    (not solved), as certkit's own counterexamples would be.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from maraboupy import Marabou
    t0 = time.monotonic()
    try:
        net = Marabou.read_onnx(str(root / inst.onnx))
        opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=max(1, int(timeout)))
        with contextlib.redirect_stdout(io.StringIO()):
            code, vals, _ = net.solve(propertyFilename=str(root / inst.vnnlib), options=opts,
                                      verbose=False)
        status = code.lower()
    except Exception as err:  # Marabou raises bare RuntimeErrors
        print(f"  marabou error: {err}", file=sys.stderr)
        status = "error"
    seconds = time.monotonic() - t0
    if status == "sat":
        x = np.array([vals[int(v)] for v in np.asarray(net.inputVars[0]).flatten()])
        if not confirm_counterexample(root / inst.onnx, root / inst.vnnlib, x):
            status = "sat-wrong"
    return status, seconds


def summarize(rows: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    """Counts and times of one tool's column."""
    verdicts = [r[f"{tool}_verdict"] for r in rows]
    secs = [float(r[f"{tool}_seconds"]) for r in rows]
    return {"tool": tool, "sat": verdicts.count("sat"), "unsat": verdicts.count("unsat"),
            "timeout": verdicts.count("timeout"),
            "other": sum(v not in ("sat", "unsat", "timeout") for v in verdicts),
            "total_s": round(sum(secs), 1), "median_s": round(statistics.median(secs), 2)}


def _clashes(rows: list[dict[str, Any]], a: str, b: dict[str, str]) -> list[tuple[str, str]]:
    """(instance, verdict of ``a``) where tool ``a`` and the verdicts ``b`` (by instance)
    are sat vs unsat."""
    return [(r["instance"], r[f"{a}_verdict"]) for r in rows
            if {r[f"{a}_verdict"], b.get(r["instance"], "")} == {"sat", "unsat"}]


def print_summary(name: str, rows: list[dict[str, Any]], tools: list[str],
                  files: dict[str, Instance] | None = None) -> None:
    """The summary table, the published reference over the same instances, and every
    sat-vs-unsat disagreement (between the tools and with the reference)."""
    print(f"\n{name}: {len(rows)} instances")
    print(f"{'tool':22s} {'sat':>4s} {'unsat':>6s} {'timeout':>8s} {'other':>6s} "
          f"{'total s':>9s} {'median s':>9s}")
    for t in tools:
        s = summarize(rows, t)
        print(f"{s['tool']:22s} {s['sat']:4d} {s['unsat']:6d} {s['timeout']:8d} "
              f"{s['other']:6d} {s['total_s']:9.1f} {s['median_s']:9.2f}")
    label, table = reference_verdicts(name)
    ref: dict[str, str] = {}
    for r in rows:
        inst = (files or {}).get(r["instance"])
        if inst is not None and file_key(inst.onnx, inst.vnnlib) in table:
            ref[r["instance"]] = table[file_key(inst.onnx, inst.vnnlib)]
    if ref:
        v = list(ref.values())
        other = sum(x not in ("sat", "unsat", "timeout") for x in v)
        print(f"{label + ' pub.':22s} {v.count('sat'):4d} {v.count('unsat'):6d} "
              f"{v.count('timeout'):8d} {other:6d}   ({len(ref)} of these instances)")
    counts = published_counts(name)
    if counts:
        print(counts)
    wrong = {t: [r["instance"] for r in rows if r[f"{t}_verdict"] == "sat-wrong"] for t in tools}
    for t, names in wrong.items():
        if names:
            print(f"{t}: {len(names)} sat answers whose counterexample onnxruntime rejects: "
                  + ", ".join(names))
    pairs = [(a, {r["instance"]: r[f"{b}_verdict"] for r in rows}, b)
             for i, a in enumerate(tools) for b in tools[i + 1:]]
    pairs += [(t, ref, label) for t in tools] if ref else []
    for a, verdicts, b in pairs:
        clash = _clashes(rows, a, verdicts)
        print(f"disagreements {a} vs {b} (sat vs unsat): {len(clash)}")
        for inst_name, mine in clash:
            print(f"  {inst_name}: {a} {mine}, {b} {verdicts[inst_name]}")


def combine(paths: list[Path]) -> list[dict[str, Any]]:
    """Rows of several results CSVs (e.g. one per tool, run separately) joined by instance:
    the instances present in every file (a run cut short compares on what it finished)."""
    joined: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for path in paths:
        with path.open() as f:
            for row in csv.DictReader(f):
                joined.setdefault(row["instance"], {}).update(row)
                seen[row["instance"]] = seen.get(row["instance"], 0) + 1
    return [r for name, r in joined.items() if seen[name] == len(paths)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmark", default="acasxu", help="acasxu, mnist_fc, oval21, vnncomp_test")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="benchmarks folder")
    p.add_argument("--limit", type=int, default=None, help="at most N instances")
    p.add_argument("--stride", type=int, default=1, help="every K-th instance")
    p.add_argument("--start", type=int, default=0, help="first row")
    p.add_argument("--match", action="append", default=None, metavar="TEXT",
                   help="only instances whose name contains TEXT (repeatable: any of them)")
    p.add_argument("--timeout", type=float, default=None, help="override the CSV's timeout")
    p.add_argument("--marabou", action="store_true", help="also run Marabou")
    p.add_argument("--tools", default=None,
                   help="comma-separated tools to run (certkit, marabou; default: certkit, "
                        "plus marabou with --marabou), e.g. one per process on two cores")
    p.add_argument("--combine", type=Path, nargs="+", metavar="CSV",
                   help="only print the summary of these results CSVs, joined by instance")
    p.add_argument("--strategy", default="auto")
    p.add_argument("--alpha-iterations", type=int, default=VerifyOptions.alpha_iterations,
                   help="input splitting: alpha-CROWN steps on the output rows (0: CROWN)")
    p.add_argument("--workers", type=int, default=1,
                   help="certkit's worker processes for ReLU splitting")
    p.add_argument("--refine-share", type=float, default=VerifyOptions.refine_share,
                   help="ReLU splitting: share of the time for MILP refinement of the root "
                        "bounds after a first search (0: none)")
    p.add_argument("--results", type=Path, default=Path("vnncomp_results.csv"))
    args = p.parse_args(argv)
    root = args.root / args.benchmark
    files = ({i.name: i for i in read_instances(root / "instances.csv")}
             if (root / "instances.csv").exists() else {})
    if args.combine:
        rows = combine(args.combine)
        tools = [t for t in ("certkit", "marabou") if f"{t}_verdict" in rows[0]]
        print_summary(args.benchmark, rows, tools, files)
        return 0
    todo = read_instances(root / "instances.csv")
    if args.match:
        todo = [inst for inst in todo if any(m in inst.name for m in args.match)]
    todo = todo[args.start::args.stride][: args.limit]
    opts = VerifyOptions(strategy=args.strategy, alpha_iterations=args.alpha_iterations,
                         workers=args.workers, refine_share=args.refine_share)
    tools = (args.tools.split(",") if args.tools else
             ["certkit"] + (["marabou"] if args.marabou else []))
    if "marabou" in tools:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import maraboupy  # noqa: F401
        except ImportError:
            print("maraboupy is not installed; running certkit only", file=sys.stderr)
            tools = [t for t in tools if t != "marabou"]
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for i, inst in enumerate(todo):
        timeout = args.timeout if args.timeout is not None else inst.timeout
        row: dict[str, Any] = {"instance": inst.name, "timeout": timeout}
        line = f"[{i + 1}/{len(todo)}] {inst.name:45s}"
        for tool in tools:
            row[f"{tool}_verdict"], s = (run_certkit(root, inst, timeout, opts)
                                         if tool == "certkit" else
                                         run_marabou(root, inst, timeout))
            row[f"{tool}_seconds"] = round(s, 2)
            line += f"   {tool} {row[f'{tool}_verdict']:8s} {s:7.2f}s"
        print(line, flush=True)
        rows.append(row)
        with args.results.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print_summary(args.benchmark, rows, tools, files)
    print(f"rows written to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
