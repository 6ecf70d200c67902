"""Randomized smoothing CERTIFY: certkit vs ART's ``PyTorchRandomizedSmoothing.certify``.

Both certify the same Gaussian-trained MNIST model (conv-small, ``--method gaussian``, sigma
0.25, trained once and cached as a run under ``--cache-dir``) on the same first ``--num``
test images with the same sigma, n0 (ART's ``sample_size``), n and alpha. Their noise comes
from different generators, so radii agree only statistically: the table prints per-library
certified accuracy at several L2 radii, mean radius, abstain rate, agreement of the
predicted labels, mean |radius difference|, and seconds per image with the ratio
(certkit / ART).

    .venv/bin/pip install adversarial-robustness-toolbox statsmodels   # the bench extra
    .venv/bin/python benchmarks/smoothing.py --data-dir ../shared/data            # n=10,000
    .venv/bin/python benchmarks/smoothing.py --data-dir ../shared/data --quick    # n=1,000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from certkit.runs import load_run
from certkit.verify.smoothing import ABSTAIN, Smoothed, certified_accuracy

RADII = (0.0, 0.25, 0.5, 0.75)


def get_run(data_dir: str, cache: Path, sigma: float, epochs: int) -> Path:
    """A conv-small run trained with Gaussian noise on MNIST (cached)."""
    run = cache / f"mnist-conv-small-gaussian-{sigma:g}-e{epochs}"
    if not (run / "model.json").is_file():
        from certkit.train import train

        train(data="mnist", data_dir=data_dir, model="conv-small", method="gaussian",
              sigma=sigma, epochs=epochs, lr=1e-3, batch_size=128, out=str(run),
              overwrite=True, progress=False)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "certkit-bench"))
    ap.add_argument("--sigma", type=float, default=0.25)
    ap.add_argument("--n0", type=int, default=100)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--alpha", type=float, default=0.001)
    ap.add_argument("--num", type=int, default=100, help="test images")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="n=1,000 and 30 images")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.n, args.num = 1000, 30
    from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing

    run = load_run(get_run(args.data_dir, Path(args.cache_dir), args.sigma, args.epochs))
    model = run.model.eval()
    test = run.load_data(args.data_dir).test
    x, y = test.x[: args.num], test.y[: args.num]

    ours = Smoothed(model, 10, args.sigma, batch_size=args.batch_size, seed=0)
    t0 = time.perf_counter()
    certs = [ours.certify(xi, n0=args.n0, n=args.n, alpha=args.alpha) for xi in x]
    t_ours = time.perf_counter() - t0
    lab_o = [c.label for c in certs]
    rad_o = [c.radius for c in certs]

    art = PyTorchRandomizedSmoothing(model, torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                                     nb_classes=10, device_type="cpu", sample_size=args.n0,
                                     scale=args.sigma, alpha=args.alpha)
    np.random.seed(0)
    t0 = time.perf_counter()
    lab_a, rad_a = art.certify(x.numpy(), n=args.n, batch_size=args.batch_size)
    t_art = time.perf_counter() - t0
    lab_a, rad_a = [int(v) for v in lab_a], [float(v) for v in rad_a]
    targets = [int(v) for v in y]

    print(f"MNIST conv-small (gaussian training, {args.epochs} epochs), sigma={args.sigma}, "
          f"n0={args.n0}, n={args.n}, alpha={args.alpha}, {args.num} test images, "
          f"batch {args.batch_size}, {args.threads} thread(s)")
    print("| quantity | certkit | ART | ratio |")
    print("|---|---|---|---|")
    for r in RADII:
        a, b = (certified_accuracy(lab, rad, targets, r) for lab, rad in ((lab_o, rad_o),
                                                                            (lab_a, rad_a)))
        print(f"| certified accuracy @ r={r:g} | {100 * a:.1f}% | {100 * b:.1f}% | |")
    for name, (lo, ro), (la, ra) in (("mean radius (certified)", (lab_o, rad_o),
                                      (lab_a, rad_a)),):
        mo = np.mean([r for lab, r in zip(lo, ro, strict=True) if lab != ABSTAIN] or [0])
        ma = np.mean([r for lab, r in zip(la, ra, strict=True) if lab != ABSTAIN] or [0])
        print(f"| {name} | {mo:.4f} | {ma:.4f} | {mo / ma if ma else float('nan'):.3f} |")
    print(f"| abstain rate | {np.mean([v == ABSTAIN for v in lab_o]):.3f} | "
          f"{np.mean([v == ABSTAIN for v in lab_a]):.3f} | |")
    agree = np.mean([a == b for a, b in zip(lab_o, lab_a, strict=True)])
    diff = np.mean([abs(a - b) for a, b in zip(rad_o, rad_a, strict=True)])
    print(f"| same label / mean abs radius difference | {agree:.3f} | {diff:.4f} | |")
    print(f"| seconds per image | {t_ours / args.num:.4f} | {t_art / args.num:.4f} | "
          f"{t_ours / t_art:.2f} |")


if __name__ == "__main__":
    main()
