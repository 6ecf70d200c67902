"""Bound-engine benchmark: time per sample and mean margin-bound width, per method.

    python benchmarks/bounds.py --data-dir ../shared/data            # full table
    python benchmarks/bounds.py --models conv-small --eps 0.02 --methods crown

For ``mlp-6x100``, ``conv-small`` and ``conv-med`` on the first 100 MNIST test images and
eps in {0.005, 0.02, 0.1} (Linf, clipped to [0, 1]), every certkit method bounds the margins
``f_pred - f_j`` (j != pred) of all images in one batched call (float32, ``which="both"``);
the table shows wall-clock time per image (best of ``--repeat``), the mean width
``upper - lower`` of the margin bounds, and the certified accuracy (margin lower bound > 0 and
correct). With ``--baseline``, a ``crown-full`` row times CROWN back-substituting every neuron
of every ReLU input (no interval pre-filter, no early exit) in the same engine. ART's interval
(IBP) and DeepZ certifiers bound the same margins of the same network in the same process,
where they run; the ``vs ART`` column is ART's time over certkit's (interval vs ``ibp``,
DeepZ vs ``crown``).

Networks: trained here, seeded, one epoch of Adam (lr 1e-3, batch 128) on the first 20,000
MNIST training images, without input normalisation so that ART sees exactly the same
network. Needs adversarial-robustness-toolbox for the ART rows (skipped when missing).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from certkit.bounds import BoundOptions, compute_bounds, method_names
from certkit.data import load_dataset
from certkit.models import build_model
from certkit.verify import margin_matrix

MODELS = ("mlp-6x100", "conv-small", "conv-med")
EPS = (0.005, 0.02, 0.1)
Row = dict[str, object]


def train(arch: str, x: Tensor, y: Tensor, seed: int = 0) -> nn.Sequential:
    """One epoch of Adam on (x, y); identity normalisation (ART cannot model it)."""
    torch.manual_seed(seed)
    model = build_model(arch, (1, 28, 28), 10, [0.0], [1.0])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(x.shape[0])
    for i in range(0, x.shape[0], 128):
        idx = perm[i:i + 128]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def best_time(fn: Callable[[], tuple[Tensor, Tensor]], repeat: int) -> tuple[float, Tensor,
                                                                            Tensor]:
    """Best wall-clock time of ``repeat`` runs (after one warm-up) and the last result."""
    out = fn()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out[0].detach(), out[1].detach()


class _Plain(nn.Module):
    """Conv/Linear/ReLU children only (what ART converts); flattens before the first Linear."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            if isinstance(layer, nn.Linear) and x.dim() > 2:
                x = x.flatten(1)
            x = layer(x)
        return x


def _art_model(model: nn.Sequential) -> tuple[nn.Module, tuple[int, ...]]:
    layers = [m for m in model if isinstance(m, nn.Conv2d | nn.Linear | nn.ReLU)]
    conv = any(isinstance(m, nn.Conv2d) for m in layers)
    return _Plain(layers), ((1, 28, 28) if conv else (784,))


def art_interval(model: nn.Sequential, x: Tensor, eps: float,
                 C: Tensor) -> Callable[[], tuple[Tensor, Tensor]]:
    """ART's IBP classifier: intervals of the logits -> bounds of the margins."""
    from art.estimators.certification.interval.pytorch import PyTorchIBPClassifier

    net, shape = _art_model(model)
    clf = PyTorchIBPClassifier(model=net, loss=nn.CrossEntropyLoss(), input_shape=shape,
                               nb_classes=10, device_type="cpu")
    data = x.reshape(x.shape[0], *shape).numpy()

    def run() -> tuple[Tensor, Tensor]:
        iv = torch.from_numpy(clf.predict_intervals(data, bounds=eps, limits=[0.0, 1.0],
                                                    batch_size=data.shape[0]))
        lo, hi = iv[:, 0], iv[:, 1]
        pos, neg = C.clamp(min=0), C.clamp(max=0)
        lb = torch.einsum("bmk,bk->bm", pos, lo) + torch.einsum("bmk,bk->bm", neg, hi)
        ub = torch.einsum("bmk,bk->bm", pos, hi) + torch.einsum("bmk,bk->bm", neg, lo)
        return lb, ub

    return run


def art_deepz(model: nn.Sequential, x: Tensor, eps: float,
              C: Tensor) -> Callable[[], tuple[Tensor, Tensor]]:
    """ART's DeepZ: output zonotopes -> bounds of the margins (one image at a time)."""
    from art.estimators.certification.deep_z.pytorch import PytorchDeepZ

    net, shape = _art_model(model)

    def to_zonotope(sample: np.ndarray, bound: float) -> tuple[np.ndarray, np.ndarray]:
        # the box clipped to [0, 1], one error term per pixel (ART's own helper fails
        # under NumPy 2)
        lo, hi = np.clip(sample - bound, 0, 1), np.clip(sample + bound, 0, 1)
        n = sample.size
        terms = np.zeros((n, *sample.shape), dtype=np.float32)
        terms.reshape(n, n)[np.arange(n), np.arange(n)] = ((hi - lo) / 2).ravel()
        return ((lo + hi) / 2)[None].astype(np.float32), terms

    clf = PytorchDeepZ(model=net, loss=nn.CrossEntropyLoss(), input_shape=shape, nb_classes=10,
                       device_type="cpu", concrete_to_zonotope=to_zonotope)
    data = x.reshape(x.shape[0], *shape).numpy()

    def run() -> tuple[Tensor, Tensor]:
        centres, terms = clf.predict_zonotopes(data, eps, training_mode=False)
        lbs, ubs = [], []
        for i, (c, e) in enumerate(zip(centres, terms, strict=True)):
            ci = C[i].double()
            mid = ci @ torch.from_numpy(c.reshape(-1)).double()
            spread = (torch.from_numpy(e).double() @ ci.T).abs().sum(0)
            lbs.append(mid - spread)
            ubs.append(mid + spread)
        return torch.stack(lbs).float(), torch.stack(ubs).float()

    return run


def _row(model: str, eps: float, method: str, seconds: float, n: int, lb: Tensor, ub: Tensor,
         correct: Tensor) -> Row:
    certified = (lb.min(dim=1).values > 0) & correct
    return {"model": model, "eps": eps, "method": method, "n": n, "ms": 1000 * seconds / n,
            "width": float((ub - lb).mean()), "certified": float(certified.float().mean()),
            "vs_art": "", "bounds": (lb, ub)}


def bench_model(name: str, model: nn.Sequential, x: Tensor, y: Tensor, args: argparse.Namespace,
                have_art: bool) -> list[Row]:
    """All rows of one network: every method at every eps."""
    rows: list[Row] = []
    with torch.no_grad():
        pred = model(x).argmax(1)
    correct = pred == y
    C = margin_matrix(pred, 10, torch.float32)
    opts = BoundOptions(alpha_iterations=args.alpha_iterations)
    for eps in args.eps:
        lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
        ours: dict[str, Row] = {}
        methods = [*args.methods, *(["crown-full"] if args.baseline else [])]
        for method in methods:
            def run(m: str = method, lo: Tensor = lo, hi: Tensor = hi) -> tuple[Tensor, Tensor]:
                if m == "crown-full":  # every neuron of every ReLU input back-substituted
                    return compute_bounds(model, lo, hi, method="crown", C=C,
                                          options=BoundOptions(tighten_stable=True))
                return compute_bounds(model, lo, hi, method=m, C=C, options=opts)

            t, lb, ub = best_time(run, args.repeat if method != "alpha-crown" else 1)
            ours[method] = _row(name, eps, method, t, x.shape[0], lb, ub, correct)
            rows.append(ours[method])
            print(_fmt(rows[-1]), flush=True)
        if not have_art:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for label, make, twin, n in (("art-interval", art_interval, "ibp", x.shape[0]),
                                         ("art-deepz", art_deepz, "crown", args.art_deepz_n)):
                xs, cs = x[:n], C[:n]
                t, lb, ub = best_time(make(model, xs, eps, cs), 1)
                row = _row(name, eps, label, t, n, lb, ub, correct[:n])
                if twin in ours:
                    t_lb, t_ub = ours[twin]["bounds"]  # type: ignore[misc]
                    same = float((t_ub[:n] - t_lb[:n]).mean())
                    row["vs_art"] = (f"{row['ms'] / float(ours[twin]['ms']):.1f}x the time of "
                                     f"{twin} (whose width on these {n} images: {same:.4g})")
                rows.append(row)
                print(_fmt(row), flush=True)
    return rows


HEADER = f"{'model':<11} {'eps':>6} {'method':<13} {'n':>4} {'ms/image':>10} " \
         f"{'margin width':>13} {'certified':>9}  ART vs certkit"


def _fmt(r: Row) -> str:
    return (f"{r['model']:<11} {r['eps']:>6g} {r['method']:<13} {r['n']:>4} {r['ms']:>10.2f} "
            f"{r['width']:>13.4g} {100 * float(r['certified']):>8.0f}%  {r['vs_art']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2]
                   / "shared" / "data")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--eps", nargs="+", type=float, default=list(EPS))
    p.add_argument("--methods", nargs="+", default=method_names())
    p.add_argument("--n", type=int, default=100, help="test images")
    p.add_argument("--art-deepz-n", type=int, default=20,
                   help="images for ART's DeepZ (one at a time; slow)")
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--alpha-iterations", type=int, default=20)
    p.add_argument("--no-art", action="store_true")
    p.add_argument("--baseline", action="store_true",
                   help="also time CROWN back-substituting every neuron ('crown-full')")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import art  # noqa: F401

        have_art = not args.no_art
    except ImportError:
        have_art = False
        print("adversarial-robustness-toolbox not installed: no ART rows")
    data = load_dataset("mnist", data_dir=args.data_dir, train_size=args.train_size)
    x, y = data.test.x[: args.n], data.test.y[: args.n]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {x.shape[0]} images")
    print(HEADER)
    rows = []
    for name in args.models:
        model = train(name, data.train.x, data.train.y)
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        print(f"# {name}: clean accuracy {100 * acc:.0f}% on these images")
        rows += bench_model(name, model, x, y, args, have_art)
    print("\n" + HEADER)
    for r in rows:
        print(_fmt(r))


if __name__ == "__main__":
    main()
