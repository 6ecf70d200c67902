"""The robustness-accuracy trade-off of Tsipras et al., shown with linear classifiers.

On the distribution of ``certkit.data.tsipras`` (p, eta, d) it evaluates linear classifiers
``sign(w . x)`` with ``w = (a, (1 - a)/d, ..., (1 - a)/d)`` for mixing weights ``a`` from the
robust-only classifier (``a = 1``) to Tsipras' averaging classifier g_avg (``a = 0``), plus
logistic regression trained normally and adversarially (exact worst case of a linear model:
margin ``y w.x - eps ||w||_1``). Robust accuracy is exact for linear classifiers: a sample is
robust iff ``y w.x - eps ||w||_1 > 0``. Every point must lie on or under Theorem 3.1's bound
``p / (1 - p) * delta`` (delta = standard error) at eps = 2 eta.

    .venv/bin/python benchmarks/tsipras_tradeoff.py --out tsipras.png
    .venv/bin/python benchmarks/tsipras_tradeoff.py --quick
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from certkit.data.tsipras import tradeoff_bound, tsipras


def accuracies(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[float,
                                                                                        float]:
    """(standard, exact robust) accuracy of ``sign(w . x)`` at Linf radius ``eps``."""
    m = y.double() * (x.double() @ w.double())
    return float((m > 0).double().mean()), float((m - eps * w.abs().sum() > 0).double().mean())


def logistic(x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 300) -> torch.Tensor:
    """Linear logistic regression, adversarially trained at ``eps`` (0: standard)."""
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    xd, yd = x.double(), y.double()
    for _ in range(steps):
        opt.zero_grad()
        F.softplus(-(yd * (xd @ w) - eps * w.abs().sum())).mean().backward()
        opt.step()
    return w.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=float, default=0.95)
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--eta", type=float, default=None, help="default 2/sqrt(d)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", default=None, help="PNG path of the plot")
    ap.add_argument("--quick", action="store_true", help="n=10,000, d=200")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.n, args.d = 10_000, 200
    x, y = tsipras(args.n, p=args.p, eta=args.eta, d=args.d, seed=0)
    xt, yt = tsipras(args.n, p=args.p, eta=args.eta, d=args.d, seed=1)
    eta = float(args.eta if args.eta is not None else 2 / args.d ** 0.5)
    eps = 2 * eta
    rows = []
    for a in (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0):
        w = torch.cat([torch.tensor([a]), torch.full((args.d,), (1 - a) / args.d)])
        rows.append((f"mix a={a:g}", *accuracies(w, xt, yt, eps)))
    for name, e in (("logreg standard", 0.0), ("logreg adversarial", eps)):
        rows.append((name, *accuracies(logistic(x, y, e), xt, yt, eps)))
    print(f"Tsipras et al. distribution: p={args.p}, d={args.d}, eta={eta:.4f}, eps=2*eta="
          f"{eps:.4f}, n={args.n} test samples")
    print("| classifier | standard acc | robust acc | bound p/(1-p)*delta | ok |")
    print("|---|---|---|---|---|")
    for name, nat, rob in rows:
        bound = tradeoff_bound(args.p, 1 - nat)
        print(f"| {name} | {100 * nat:.2f} | {100 * rob:.2f} | {100 * bound:.2f} | "
              f"{'yes' if rob <= bound + 0.01 else 'NO'} |")
    if args.out:
        from certkit.report.figures import new_figure, save_figure

        fig = new_figure()
        ax = fig.add_subplot(1, 1, 1)
        nats = [r[1] for r in rows]
        grid = torch.linspace(min(nats + [args.p]) - 0.01, 1.0, 200)
        ax.plot(grid, [tradeoff_bound(args.p, 1 - float(g)) for g in grid], "k--",
                label="bound p/(1-p)*delta")
        for name, nat, rob in rows:
            ax.scatter([nat], [rob], label=name, s=18)
        ax.set_xlabel("standard accuracy")
        ax.set_ylabel(f"robust accuracy (eps = 2 eta = {eps:.3f})")
        ax.legend(fontsize=6)
        save_figure(fig, args.out)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
