"""Certification ROC by search vs a brute-force eps grid, and the OOD table (Franco et al.).

1. Trains (or reuses, ``--runs STD PGD``) MNIST conv-small runs: standard (1 epoch) and
   PGD-AT (eps 0.1, 5 steps, 1 epoch) on the full training set.
2. For each run: the CROWN certification ROC over a 4,000-point eps grid in [0, 0.2] on the
   first ``--n`` test images by the interpolating search of ``max_robust_eps`` (PGD
   bracket, float32 screen; ``--workers`` processes; wall time, verifier calls per
   sample), the extrapolated time for 10,000 images, and a brute-force grid (one CROWN call
   per grid point) on ``--n-brute`` images over a ``--brute-points`` grid, checked to give
   *the same* ROC as the search and as plain bisection on that grid; the time ratio and
   the calls of both searches are reported (brute force and searches with ``--workers``).
3. Table 5 layout for the standard run: MSP, ODIN, Mahalanobis, Energy on all 10,000 test
   images, the certificate (CROWN, ``--cert-points`` grid) on ``--n-cert`` per side, vs
   Fashion-MNIST and the synthetic sets.

    .venv/bin/python benchmarks/cert_roc.py --data-dir ../shared/data --quick
    .venv/bin/python benchmarks/cert_roc.py --data-dir ../shared/data --n 10000   # full

``--quick`` uses 60 images for the ROC, 8 x 41 for brute force and 40 per side for the
certificate detector. Results go to stdout (markdown) and ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from certkit.analysis.max_eps import (
    brute_force_robust,
    eps_grid,
    max_robust_eps,
    monotonicity_violations,
)
from certkit.analysis.ood_run import ood_run
from certkit.analysis.roc import certification_roc, roc_from_verdicts
from certkit.runs import load_run


def train_runs(data_dir: str, root: Path) -> list[Path]:
    from certkit.train import train

    std, pgd = root / "mnist-conv-small-standard", root / "mnist-conv-small-pgd"
    if not (std / "model.json").exists():
        train(data="mnist", model="conv-small", method="standard", epochs=1, batch_size=128,
              lr=1e-3, seed=0, data_dir=data_dir, out=str(std), overwrite=True,
              progress=False)
    if not (pgd / "model.json").exists():
        train(data="mnist", model="conv-small", method="pgd-at", eps=0.1, attack_steps=5,
              epochs=1, batch_size=128, lr=1e-3, seed=0, data_dir=data_dir, out=str(pgd),
              overwrite=True, progress=False)
    return [std, pgd]


def roc_bench(run_dir: Path, data_dir: str, args: argparse.Namespace) -> dict[str, object]:
    run = load_run(run_dir)
    test = run.load_data(data_dir).test
    x, y = test.x[:args.n], test.y[:args.n]
    grid = eps_grid(0.2, args.points)
    t0 = time.perf_counter()
    r = max_robust_eps(run.model, x, "crown", grid=grid, bracket=True, workers=args.workers)
    seconds = time.perf_counter() - t0
    roc = certification_roc(r.radius(), r.pred == y, grid)
    out: dict[str, object] = {
        "run": run_dir.name, "n": int(x.shape[0]), "points": args.points,
        "accuracy": roc.accuracy, "auc": roc.auc(), "eps_at_cir_1pct": roc.eps_for_cir(0.01),
        "seconds": seconds, "seconds_per_image": seconds / x.shape[0],
        "extrapolated_10k_minutes": seconds / x.shape[0] * 10000 / 60,
        "crown_calls_per_image": r.calls, "pgd_calls_per_image": r.attack_calls,
        "mean_radius": float(r.radius().clamp_min(0).mean())}
    # brute force on a smaller grid: every grid point certified separately
    bgrid = eps_grid(0.2, args.brute_points)
    xb, yb = x[:args.n_brute], y[:args.n_brute]
    t0 = time.perf_counter()
    brute = brute_force_robust(run.model, xb, bgrid, "crown", workers=args.workers)
    t_brute = time.perf_counter() - t0
    t0 = time.perf_counter()
    rb = max_robust_eps(run.model, xb, "crown", grid=bgrid, workers=args.workers)
    t_bis = time.perf_counter() - t0
    halving = max_robust_eps(run.model, xb, "crown", grid=bgrid, search="bisection",
                             workers=args.workers)
    same = (certification_roc(rb.radius(), rb.pred == yb, bgrid).cc.tolist()
            == roc_from_verdicts(brute, rb.pred == yb, bgrid).cc.tolist()
            and bool((rb.index == brute.sum(1) - 1).all())
            and bool((halving.index == rb.index).all()))
    out.update({"brute_n": int(xb.shape[0]), "brute_points": args.brute_points,
                "brute_seconds": t_brute, "bisection_seconds_same_grid": t_bis,
                "brute_over_bisection": t_brute / t_bis,
                "search_calls_same_grid": rb.calls,
                "bisection_calls_same_grid": halving.calls,
                "crown_monotonicity_violations": monotonicity_violations(brute),
                "bisection_equals_brute_force": same})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--runs", nargs="*", help="Existing run directories (else trained here).")
    p.add_argument("--root", default="runs/bench-cert-roc", help="Where to train the runs.")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--points", type=int, default=4000)
    p.add_argument("--n-brute", type=int, default=100)
    p.add_argument("--brute-points", type=int, default=4000)
    p.add_argument("--n-cert", type=int, default=1000)
    p.add_argument("--cert-points", type=int, default=4000)
    p.add_argument("--ood", default="fashion-mnist,uniform-noise,gaussian-noise,permuted,"
                                    "constant")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--skip-ood", action="store_true")
    p.add_argument("--skip-roc", action="store_true", help="Only the OOD table.")
    p.add_argument("--threads", type=int, default=1, help="torch threads (per worker)")
    p.add_argument("--workers", type=int, default=2,
                   help="processes for the ROC search (default 2: both cores here)")
    p.add_argument("--json", help="Write all results to this JSON file.")
    args = p.parse_args()
    if args.quick:
        args.n, args.n_brute, args.brute_points = 60, 8, 41
        args.n_cert, args.cert_points = 40, 400
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    t0 = time.perf_counter()
    runs = [Path(r) for r in args.runs] if args.runs else train_runs(args.data_dir,
                                                                       Path(args.root))
    print(f"runs ready in {time.perf_counter() - t0:.1f} s: {[str(r) for r in runs]}")
    results: dict[str, object] = {"settings": vars(args), "roc": []}
    print(f"\n{args.workers} worker(s) x {args.threads} thread(s)")
    print("| run | n | acc | AUC | wall s | s/image | 10k min (extrap.) | CROWN calls/img "
          "| PGD calls/img | brute n x pts | brute s | search s | ratio | calls search / "
          "bisection | same ROC | non-monotone |")
    print("|---" * 16 + "|")
    for run in [] if args.skip_roc else runs:
        r = roc_bench(run, args.data_dir, args)
        results["roc"].append(r)  # type: ignore[union-attr]
        print(f"| {r['run']} | {r['n']} | {r['accuracy']:.3f} | {r['auc']:.3f} | "
              f"{r['seconds']:.1f} | {r['seconds_per_image']:.2f} | "
              f"{r['extrapolated_10k_minutes']:.0f} | {r['crown_calls_per_image']:.2f} | "
              f"{r['pgd_calls_per_image']:.2f} | {r['brute_n']} x {r['brute_points']} | "
              f"{r['brute_seconds']:.1f} | {r['bisection_seconds_same_grid']:.1f} | "
              f"{r['brute_over_bisection']:.1f} | {r['search_calls_same_grid']:.2f} / "
              f"{r['bisection_calls_same_grid']:.2f} | {r['bisection_equals_brute_force']} | "
              f"{r['crown_monotonicity_violations']} |", flush=True)
    if not args.skip_ood:
        sets = [s for s in args.ood.split(",") if s]
        res = ood_run(runs[0], ood=sets, n_cert=args.n_cert, points=args.cert_points,
                      method="crown", data_dir=args.data_dir, workers=args.workers)
        results["ood"] = res["rows"]
        print(f"\nOOD, ID = MNIST, {runs[0].name} (acc {res['accuracy']:.3f}); "
              f"certificate on {args.n_cert} per side, {args.cert_points} eps points")
        print("| detector | " + " | ".join(f"{s} AUROC | {s} FPR95" for s in sets) + " |")
        print("|---" * (1 + 2 * len(sets)) + "|")
        for row in res["table"]:
            print(f"| {row['detector']} | " + " | ".join(
                f"{row[f'{s} AUROC']} | {row[f'{s} FPR95']}" for s in sets) + " |")
    results["seconds"] = time.perf_counter() - t0
    print(f"\ntotal {results['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
