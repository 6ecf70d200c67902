"""certkit attacks vs torchattacks 3.5.1 on a conv-small MNIST model, in one process.

For eps 0.1 and 0.3 (Linf) it runs FGSM, PGD-50 x 5 restarts (CE loss) twice -- each library
with its default step (ours: 0.2 eps halved at steps 25 and 38; torchattacks: 2/255), and both
with Madry et al.'s constant 2.5 eps / 50 -- then APGD-CE and APGD-DLR (100 steps) from both
libraries on the same images and prints robust
accuracy (mean over ``--repeats`` seeds) and seconds per 1,000 images (fastest run), with
ratios (ours / theirs). torchattacks' PGD has no restarts; five of them are chained with its
``MultiAttack`` (each restart attacks the images still classified correctly), the usual way
to run it.

    .venv/bin/pip install torchattacks==3.5.1 -c constraints.txt
    .venv/bin/pip uninstall -y torchvision
    .venv/bin/python benchmarks/attacks.py --data-dir ../shared/data
    .venv/bin/python benchmarks/attacks.py --threads 1 --clock cpu   # on a busy machine

The model trains for one epoch on the full training set (seconds to a minute on a CPU) and
is cached as safetensors under ``--cache-dir``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from certkit.attacks import APGD, FGSM, PGD
from certkit.data import load_dataset
from certkit.models import build_model

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def get_model(data_dir: str, cache: Path, seed: int) -> tuple[nn.Module, object]:
    """conv-small trained one epoch on MNIST (cached), and the dataset splits."""
    splits = load_dataset("mnist", data_dir=data_dir)
    info = splits.info
    model = build_model("conv-small", info.input_shape, info.num_classes, info.mean, info.std)
    path = cache / f"conv-small-mnist-seed{seed}.safetensors"
    if path.is_file():
        model.load_state_dict(load_file(path))
        return model.eval(), splits
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = splits.train
    perm = torch.randperm(x.shape[0])
    model.train()
    start = time.perf_counter()
    for i in range(0, x.shape[0], 128):
        b = perm[i:i + 128]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[b]), y[b]).backward()
        opt.step()
    print(f"trained conv-small for one epoch in {time.perf_counter() - start:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model.eval(), splits


def run(attack: AttackFn, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
        batch: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, float]:
    """Robust accuracy (checked here) and seconds per 1,000 images."""
    correct, seconds = 0, 0.0
    for i in range(0, x.shape[0], batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        start = clock()
        x_adv = attack(xb, yb).detach()
        seconds += clock() - start
        assert float((x_adv - xb).abs().max()) <= eps + 1e-5, "left the eps ball"
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0, "left [0, 1]"
        with torch.no_grad():
            correct += int((model(x_adv).argmax(1) == yb).sum())
    return correct / x.shape[0], 1000 * seconds / x.shape[0]


def pairs(model: nn.Module, eps: float, seed: int) -> dict[str, tuple[AttackFn, AttackFn]]:
    """Each benchmarked attack as (ours, torchattacks')."""
    try:
        import torchattacks as ta
    except ImportError as err:
        raise SystemExit("needs torchattacks: .venv/bin/pip install torchattacks==3.5.1 "
                         "-c constraints.txt && .venv/bin/pip uninstall -y torchvision") from err

    def ta_pgd(**step: float) -> AttackFn:
        return ta.MultiAttack([ta.PGD(model, eps=eps, steps=50, random_start=True, **step)
                               for _ in range(5)])

    madry = 2.5 / 50
    return {
        "FGSM": (FGSM(model, eps), ta.FGSM(model, eps=eps)),
        "PGD-50x5 (CE)": (PGD(model, eps, steps=50, restarts=5, seed=seed), ta_pgd()),
        "PGD-50x5 (CE, 2.5eps/50)": (PGD(model, eps, steps=50, restarts=5, rel_step=madry,
                                         schedule="constant", seed=seed),
                                     ta_pgd(alpha=madry * eps)),
        "APGD-CE-100": (APGD(model, eps, steps=100, loss="ce", seed=seed),
                        ta.APGD(model, eps=eps, steps=100, loss="ce", seed=seed)),
        "APGD-DLR-100": (APGD(model, eps, steps=100, loss="dlr", seed=seed),
                         ta.APGD(model, eps=eps, steps=100, loss="dlr", seed=seed)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    ap.add_argument("--n", type=int, default=1000, help="test images")
    ap.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per attack with seeds seed, seed+1, ...: mean accuracy, "
                         "fastest time (robust to a busy machine)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(tempfile.gettempdir()) / "certkit-bench")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall-clock time, or this process's CPU time (steadier on a busy "
                         "machine; use with --threads 1)")
    ap.add_argument("--attacks", nargs="+", metavar="NAME",
                    help="only these rows (prefixes of the names: FGSM PGD APGD-CE APGD-DLR)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    model, splits = get_model(args.data_dir, args.cache_dir, args.seed)
    model = model.to(args.device)
    x, y = splits.test.x[: args.n].to(args.device), splits.test.y[: args.n].to(args.device)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    print(f"conv-small MNIST, {x.shape[0]} test images, clean accuracy {clean:.4f}, "
          f"{torch.get_num_threads()} threads, device {args.device}, {args.clock} clock\n")
    head = (f"{'eps':>5} {'attack':<24} {'acc ours':>9} {'acc TA':>8} {'diff':>7} "
            f"{'s/1k ours':>10} {'s/1k TA':>9} {'time ratio':>10}")
    print(head)
    print("-" * len(head))
    rows = []
    for eps in args.eps:
        for name in pairs(model, eps, 0):
            if args.attacks and not any(name.startswith(a) for a in args.attacks):
                continue
            acc_o, acc_t, t_o, t_t = [], [], [], []
            for rep in range(args.repeats):  # alternate the libraries; seeds 0, 1, ...
                seed = args.seed + rep
                ours, theirs = pairs(model, eps, seed)[name]
                for atk in (ours, theirs):  # warm-up: one-time allocations out of the timing
                    atk(x[:16], y[:16])
                for atk, accs, times in ((ours, acc_o, t_o), (theirs, acc_t, t_t)):
                    torch.manual_seed(seed)
                    acc, sec = run(atk, model, x, y, eps, args.batch_size, clock)
                    accs.append(acc)
                    times.append(sec)
            row = {"eps": eps, "attack": name, "acc_ours": mean(acc_o), "acc_ta": mean(acc_t),
                   "s_per_1k_ours": min(t_o), "s_per_1k_ta": min(t_t),
                   "time_ratio": min(t_o) / min(t_t), "acc_ours_runs": acc_o,
                   "acc_ta_runs": acc_t}
            rows.append(row)
            print(f"{eps:>5.2f} {name:<24} {row['acc_ours']:>9.4f} {row['acc_ta']:>8.4f} "
                  f"{row['acc_ours'] - row['acc_ta']:>+7.4f} {row['s_per_1k_ours']:>10.2f} "
                  f"{row['s_per_1k_ta']:>9.2f} {row['time_ratio']:>10.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"clean_accuracy": clean, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
