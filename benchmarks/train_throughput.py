"""Examples/s of certkit's standard training vs a minimal hand-written PyTorch loop.

Same model (conv-small), same data tensors, same batch size, optimizer and data order; each
is timed over whole epochs, the best of ``--repeats`` runs. certkit is measured twice: its
epoch loop alone (what its metrics report) and the whole ``train()`` call per epoch, which
also evaluates on the test set and writes an atomic checkpoint every epoch.

    .venv/bin/python benchmarks/train_throughput.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from certkit.data import load_dataset
from certkit.models import build_model
from certkit.train import train


def hand_loop(x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, seed: int,
              mean: tuple[float, ...], std: tuple[float, ...]) -> float:
    """The minimal PyTorch loop: examples/s over ``epochs``."""
    torch.manual_seed(seed)
    model = build_model("conv-small", tuple(x.shape[1:]), 10, mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epochs * x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--train-size", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    splits = load_dataset(args.data, data_dir=args.data_dir, train_size=args.train_size,
                          test_size=1000)
    x, y, info = splits.train.x, splits.train.y, splits.info
    hand, ours_loop, ours_total = [], [], []
    for _ in range(args.repeats):
        hand.append(hand_loop(x, y, args.epochs, args.batch_size, 0, info.mean, info.std))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = train(data=args.data, data_dir=args.data_dir, train_size=args.train_size,
                        test_size=1000, model="conv-small", epochs=args.epochs,
                        batch_size=args.batch_size, lr=1e-3, seed=0, out=str(Path(tmp) / "r"),
                        progress=False)
            total = time.perf_counter() - t0
        ours_loop.append(res.metrics["examples_per_s"])
        ours_total.append(args.epochs * x.shape[0] / total)

    h, ol, ot = max(hand), max(ours_loop), max(ours_total)
    print(f"conv-small on {args.data} ({x.shape[0]} examples, batch {args.batch_size}, "
          f"{args.epochs} epochs, best of {args.repeats}, {torch.get_num_threads()} threads)")
    print(f"{'':38s}{'examples/s':>12s}{'ratio vs hand':>15s}")
    print(f"{'hand-written PyTorch loop':38s}{h:12.0f}{1.0:15.3f}")
    print(f"{'certkit train (epoch loop)':38s}{ol:12.0f}{ol / h:15.3f}")
    print(f"{'certkit train (whole call, eval+ckpt)':38s}{ot:12.0f}{ot / h:15.3f}")


if __name__ == "__main__":
    main()
