"""Table 3 of the TRADES/BN paper, on a budget: cnn1 / cnn1-bn1 / cnn1-bn2 x {standard,
TRADES 1/lambda in {0.5, 1, 2, 3}} on MNIST at eps = 0.1.

For every cell it trains with ``certkit.train`` (method ``standard`` or ``trades`` with
``beta = 1/lambda``), then measures train/test clean and PGD accuracy and their gaps
(``certkit analyze gaps``) and the test local Lipschitz estimate (``certkit analyze
lipschitz``), and prints the table in the paper's layout.

Budget (the paper: 160 epochs of SGD on 60,000 images): ``--train-size`` images (default
10,000), ``--epochs`` (default 3) of Adam (lr 1e-3, batch 64), TRADES inner attack 10 steps;
evaluation on 1,000 train / 1,000 test images with PGD-20 and Lipschitz on 500 test images
(10 steps). ``--quick``: 1,000 training images, 1 epoch, 5 attack steps, 200 evaluation
images -- a smoke test of the pipeline, not of the paper's numbers.

    .venv/bin/python benchmarks/trades_bn.py --data-dir ../shared/data --out runs/trades_bn
    .venv/bin/python benchmarks/trades_bn.py --data-dir ../shared/data --quick
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from certkit.analysis.gaps import gaps_run
from certkit.analysis.lipschitz import lipschitz_run
from certkit.train import train

ARCHS = ("cnn1", "cnn1-bn1", "cnn1-bn2")
SETTINGS = (("Natural", "standard", 0.0), ("TRADES(1/l=0.5)", "trades", 0.5),
            ("TRADES(1/l=1)", "trades", 1.0), ("TRADES(1/l=2)", "trades", 2.0),
            ("TRADES(1/l=3)", "trades", 3.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--out", default="runs/trades_bn")
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--train-size", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--attack-steps", type=int, default=10)
    ap.add_argument("--n-eval", type=int, default=1000)
    ap.add_argument("--n-lip", type=int, default=500)
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.train_size, args.epochs, args.attack_steps, args.n_eval, args.n_lip = \
            1000, 1, 5, 200, 200
    rows = []
    start = time.perf_counter()
    for label, method, beta in SETTINGS:
        for arch in args.archs.split(","):
            out = Path(args.out) / f"{arch}-{method}-{beta:g}"
            if not (out / "model.json").is_file():
                train(data="mnist", data_dir=args.data_dir, train_size=args.train_size,
                      model=arch, method=method, beta=beta or 1.0, eps=args.eps,
                      epochs=args.epochs, batch_size=64, optimizer="adam", lr=1e-3,
                      attack_steps=args.attack_steps, out=str(out), overwrite=True,
                      progress=False)
            g = gaps_run(out, eps=args.eps, steps=20, n_train=args.n_eval, n_test=args.n_eval,
                         data_dir=args.data_dir)
            lip = lipschitz_run(out, eps=args.eps, n=args.n_lip, steps=10,
                                data_dir=args.data_dir)
            rows.append((label, arch, g, lip["lipschitz"]))
            print(f"done {label} {arch} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nMNIST, eps={args.eps}, {args.train_size} training images, {args.epochs} epoch(s) "
          f"Adam, TRADES inner attack {args.attack_steps} steps; PGD-20 on {args.n_eval} "
          f"train / {args.n_eval} test images; Lipschitz on {args.n_lip} test images")
    print("| setting | architecture | train acc | test acc | gap | adv train acc | "
          "adv test acc | adv gap | test lipschitz |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, arch, g, lip in rows:
        print(f"| {label} | {arch} | {g['train_acc']:.2f} | {g['test_acc']:.2f} | "
              f"{g['gap']:.2f} | {g['adv_train_acc']:.2f} | {g['adv_test_acc']:.2f} | "
              f"{g['adv_gap']:.2f} | {lip:.2f} |")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
