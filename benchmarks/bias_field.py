"""Bias-field robust training (Henriksen & Lomuscio 2023, Table 1) at a scale that runs here.

Standard, RSIP-IBP and RSIP-SSIP networks against a third-order multiplicative bias field
(constant term in [1 - eps, 1 + eps], the other 9 terms in [-eps/15, eps/15]):
eps in {0.01, 0.05, 0.1, 0.2, 0.4} with alpha = 1 (``--part eps``), and alpha in
{0.25, 0.5, 1, 2, 4} at eps = 0.4 (``--part alpha``). For every network: test accuracy
(full test set), accuracy under PGD in the coefficient box (first ``--attack-n`` test
images, 20 steps, margin loss), certified robustness by RSIP-SSIP (sound float64 verdicts,
first ``--test-n`` test images, default all 10,000), and training seconds per robust epoch.

Schedule: the ``configs/biasfield-rsip.yaml`` preset (the paper's pre-training, ramp and two
lower learning rates), shortened by ``--pretrain/--ramp/--tail``: standard training for
``pretrain`` epochs (shared by every robust network: the pre-trained run is copied and each
robust run resumes from it with its own config -- the same weights as one uninterrupted run
of the preset), then ``ramp`` epochs at lr 5e-4 with eps ramped linearly from 0, then one
epoch at 5e-5 per ``tail``. The "standard" network is the pre-trained one.

    .venv/bin/python benchmarks/bias_field.py --data-dir ../shared/data --quick
    .venv/bin/python benchmarks/bias_field.py --data-dir ../shared/data --part eps
    .venv/bin/python benchmarks/bias_field.py --data-dir ../shared/data --part alpha

Rows are appended to ``<out>/rows.jsonl`` as they finish (a rerun skips finished rows) and
the tables are printed in Markdown at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from certkit.analysis.adversarial import attack_run
from certkit.runs import load_run
from certkit.train import make_config, train
from certkit.verify import certify_run

PRESET = Path(__file__).resolve().parents[1] / "configs" / "biasfield-rsip.yaml"
EPS_SWEEP = (0.01, 0.05, 0.1, 0.2, 0.4)
ALPHA_SWEEP = (0.25, 0.5, 1.0, 2.0, 4.0)
# The paper's Table 1 (CIFAR-10 DM-Medium; %): eps (in %) -> (acc Std, RI, RS, cert Std, RI, RS)
PAPER_EPS = {1: (82.9, 78.1, 81.6, 65.7, 77.8, 81.3), 5: (82.9, 72.1, 81.0, 41.2, 71.3, 78.5),
             10: (82.9, 66.8, 79.6, 5.7, 64.9, 75.1), 20: (82.9, 54.8, 78.7, 0.0, 49.6, 70.2),
             40: (82.9, 46.3, 76.6, 0.0, 35.2, 62.9)}


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The preset with this budget's epochs and data."""
    p, r, t = args.pretrain, args.ramp, args.tail
    return {"data": args.data, "data_dir": args.data_dir, "model": args.model,
            "train_size": args.train_size, "batch_size": args.batch_size,
            "eps_start_epoch": p, "eps_ramp_epochs": r, "epochs": p + r + t,
            "milestones": [p + r + i for i in range(t)] or [p + r], "seed": args.seed}


def pretrain(args: argparse.Namespace, out: Path) -> Path:
    """The standard network: the preset's first ``pretrain`` epochs (eps is 0 there)."""
    run = out / "standard"
    if (run / "model.safetensors").is_file():
        return run
    opts = {**options(args), "method": "standard", "eps": 0.0, "epochs": args.pretrain,
            "milestones": [args.pretrain], "eps_start_epoch": 0, "eps_ramp_epochs": 0}
    train(config_file=PRESET, out=str(run), overwrite=True, progress=False, **opts)
    return run


def robust_run(args: argparse.Namespace, base: Path, out: Path, method: str, eps: float,
               alpha: float) -> tuple[Path, float]:
    """Copy the pre-trained run, give it the robust config, resume; seconds per robust epoch."""
    run = out / f"{method}-eps{eps:g}-alpha{alpha:g}"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(base, run)
    cfg = make_config(PRESET, **{**options(args), "method": method, "eps": eps,
                                 "rsip_alpha": alpha, "out": str(run)})
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    train(resume=run, progress=False)
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    secs = [r["seconds"] for r in rows if r["epoch"] > args.pretrain]
    return run, sum(secs) / len(secs)


def evaluate(args: argparse.Namespace, run: Path, eps: float) -> dict[str, float]:
    """Test accuracy (full test set), PGD accuracy and RSIP-SSIP certified robustness."""
    n = args.test_n
    cert = certify_run(run, method="rsip-ssip", eps=eps, spec="biasfield", order=3, n=n,
                       data_dir=args.data_dir, batch_size=500)
    atk = attack_run(run, spec="biasfield", eps=eps, order=3, n=args.attack_n,
                     data_dir=args.data_dir, steps=20, restarts=1, loss="margin")
    opened = load_run(run)
    test = opened.load_data(args.data_dir).test
    with torch.no_grad():
        acc = float((opened.model.eval()(test.x).argmax(1) == test.y).float().mean())
    return {"acc": acc, "pgd": atk["robust_accuracy"], "cert": cert["certified_accuracy"],
            "cert_n": cert["n"], "attack_n": atk["n"]}


def done_rows(path: Path) -> dict[tuple[str, float, float], dict[str, Any]]:
    if not path.is_file():
        return {}
    rows = [json.loads(r) for r in path.read_text().splitlines() if r.strip()]
    return {(r["method"], r["eps"], r["alpha"]): r for r in rows}


def run_grid(args: argparse.Namespace, out: Path, grid: list[tuple[float, float]]) -> None:
    rows_path = out / "rows.jsonl"
    done = done_rows(rows_path)
    base = pretrain(args, out)
    std_secs = [json.loads(r)["seconds"] for r in
                (base / "metrics.jsonl").read_text().splitlines()]
    for eps, alpha in grid:
        for method in ("standard", "rsip-ibp", "rsip-ssip"):
            key = (method, eps, alpha if method != "standard" else 0.0)
            if key in done:
                continue
            t0 = time.perf_counter()
            if method == "standard":
                run, secs = base, sum(std_secs) / len(std_secs)
            else:
                run, secs = robust_run(args, base, out, method, eps, alpha)
            row = {"method": method, "eps": eps, "alpha": key[2], "epoch_seconds": secs,
                   **evaluate(args, run, eps), "wall": time.perf_counter() - t0}
            done[key] = row
            with rows_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def table(rows: dict[tuple[str, float, float], dict[str, Any]], grid: list[tuple[float, float]],
          by: str) -> str:
    """Markdown table in the shape of the paper's Table 1."""
    head = (f"| {by} | acc Std | acc RI | acc RS | PGD Std | PGD RI | PGD RS | cert Std | "
            "cert RI | cert RS | s/epoch Std | s/epoch RI | s/epoch RS | RS/RI time |")
    lines = [head, "|" + "---|" * 14]
    for eps, alpha in grid:
        r = [rows.get(("standard", eps, 0.0)), rows.get(("rsip-ibp", eps, alpha)),
             rows.get(("rsip-ssip", eps, alpha))]
        if any(x is None for x in r):
            continue

        def pct(key: str, r: list[Any] = r) -> list[str]:
            return [f"{100 * x[key]:.1f}" for x in r]

        secs = [f"{x['epoch_seconds']:.1f}" for x in r]  # type: ignore[index]
        ratio = r[2]["epoch_seconds"] / r[1]["epoch_seconds"]  # type: ignore[index]
        val = eps if by == "eps" else alpha
        lines.append(f"| {val:g} | " + " | ".join([*pct("acc"), *pct("pgd"), *pct("cert"),
                                                    *secs, f"{ratio:.2f}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--model", default="conv-small")
    ap.add_argument("--part", choices=("eps", "alpha", "all"), default="all")
    ap.add_argument("--train-size", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--pretrain", type=int, default=5)
    ap.add_argument("--ramp", type=int, default=2)
    ap.add_argument("--tail", type=int, default=1)
    ap.add_argument("--test-n", type=int, default=None, help="certify the first N (all)")
    ap.add_argument("--attack-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-bias-field")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 600 training images, 2+1+1 epochs, 200 test images, "
                         "eps {0.1, 0.4}")
    args = ap.parse_args()
    torch.set_num_threads(1)
    eps_grid = [(e, 1.0) for e in EPS_SWEEP]
    alpha_grid = [(0.4, a) for a in ALPHA_SWEEP]
    if args.quick:
        args.train_size, args.pretrain, args.ramp, args.tail = 600, 2, 1, 1
        args.test_n, args.attack_n = 200, 200
        eps_grid, alpha_grid = [(0.1, 1.0), (0.4, 1.0)], [(0.4, 4.0)]
        args.out = args.out + "-quick"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part in ("eps", "all"):
        run_grid(args, out, eps_grid)
    if args.part in ("alpha", "all"):
        run_grid(args, out, alpha_grid)
    rows = done_rows(out / "rows.jsonl")
    print(f"\n{args.data}, {args.model}, train subset {args.train_size}, epochs "
          f"{args.pretrain}+{args.ramp}+{args.tail}, third-order multiplicative bias field")
    print("\nalpha = 1\n" + table(rows, eps_grid, "eps"))
    print("\neps = 0.4\n" + table(rows, alpha_grid, "alpha"))
    print("\nPaper (CIFAR-10 DM-Medium, eps in %; acc Std/RI/RS, cert Std/RI/RS):")
    for e, v in PAPER_EPS.items():
        print(f"  eps {e}: " + " ".join(f"{x:.1f}" for x in v))


if __name__ == "__main__":
    main()
