"""Empirical local Lipschitzness (Yang et al. 2020; TRADES/BN paper, Table 3).

``L(f) = (1/n) sum_i max_{x' in B_inf(x_i, eps)} ||f(x_i) - f(x')||_1 / ||x_i - x'||_inf``,
with the inner maximum found by projected sign-gradient ascent within the [0, 1] pixel box:
each restart (random start in the ball, ``steps`` steps) runs twice, once ascending the ratio
itself (Yang et al.) and once its numerator (which drives the point to the ball's boundary,
where a locally linear map attains its ratio); the best ratio over all iterates counts.
It is a lower estimate of the true local constant: for a linear map ``W`` it approaches the
induced norm ``||W||_{inf->1} = max_{s in {-1,1}^n} ||W s||_1``.
``f`` is the logits (as in Yang et al.'s code) or, with ``output="probs"``, the softmax.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attacks.base import frozen, model_device_dtype
from ..errors import CertkitError, choice_error
from ..report.figures import analysis_path, new_figure, save_figure, write_csv
from ..runs import Run, load_run, write_json_atomic

OUTPUTS = ("logits", "probs")


def _out(model: nn.Module, x: torch.Tensor, output: str) -> torch.Tensor:
    z = model(x)
    return z.softmax(dim=1) if output == "probs" else z


def local_lipschitz(model: nn.Module, x: torch.Tensor, eps: float, *, steps: int = 10,
                    restarts: int = 1, step_size: float | None = None, output: str = "logits",
                    batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    """Per-sample ``max ||f(x) - f(x')||_1 / ||x - x'||_inf`` over the eps-ball (PGD estimate)."""
    if not math.isfinite(eps) or eps <= 0:
        raise CertkitError(f"eps must be a finite number > 0, got {eps}")
    if output not in OUTPUTS:
        raise choice_error("output", output, list(OUTPUTS))
    for name, v, lo in (("steps", steps, 0), ("restarts", restarts, 1),
                        ("batch_size", batch_size, 1)):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise CertkitError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not torch.isfinite(x).all():
        raise CertkitError("inputs contain NaN or infinity")
    alpha = eps / 4 if step_size is None else float(step_size)
    dev, dtype = model_device_dtype(model)
    g = torch.Generator(device=dev or "cpu").manual_seed(seed)
    out = []
    with frozen(model):
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(dev or "cpu", dtype or torch.float32)
            with torch.no_grad():
                fx = _out(model, xb, output)
            best = torch.zeros(xb.shape[0], dtype=torch.float64, device=xb.device)
            for r in range(restarts * 2):
                u = torch.rand(xb.shape, generator=g, device=xb.device, dtype=xb.dtype)
                xa = (xb + (2 * u - 1) * eps).clamp(0.0, 1.0)
                for k in range(steps + 1):
                    xa = xa.detach().requires_grad_(True)
                    num = (_out(model, xa, output) - fx).abs().flatten(1).sum(1)
                    den = (xa - xb).abs().flatten(1).amax(1).clamp_min(1e-12)
                    ratio = num / den
                    best = torch.maximum(best, ratio.detach().double())
                    if k == steps:
                        break
                    (grad,) = torch.autograd.grad((ratio if r % 2 == 0 else num).sum(), xa)
                    with torch.no_grad():
                        xa = xa + alpha * grad.sign()
                        xa = torch.minimum(torch.maximum(xa, xb - eps), xb + eps).clamp(0, 1)
            out.append(best.cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def lipschitz_run(run: str | Path | Run, *, eps: float, n: int | None = 1000,
                  split: str = "test", steps: int = 10, restarts: int = 1,
                  output: str = "logits", batch_size: int = 256,
                  data_dir: str | Path | None = None, device: str = "cpu",
                  seed: int = 0) -> dict[str, Any]:
    """Local Lipschitz estimate of a run on the first ``n`` points of ``split`` (train/test).

    Writes ``<run>/analysis/lipschitz-<split>-eps<eps>.{csv,png,json}``.
    """
    if split not in ("train", "test"):
        raise choice_error("split", split, ["train", "test"])
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise CertkitError(f"n must be an integer >= 1, got {n!r}")
    opened = run if isinstance(run, Run) else load_run(run)
    model = opened.model.to(torch.device(device))
    data = getattr(opened.load_data(data_dir), split)
    x = data.x[:n]
    per = local_lipschitz(model, x, eps, steps=steps, restarts=restarts, output=output,
                          batch_size=batch_size, seed=seed)
    stem = f"lipschitz-{split}-eps{eps:g}"
    csv_path = write_csv(analysis_path(opened.path, stem, ".csv"),
                         [{"index": i, "lipschitz": float(v)} for i, v in enumerate(per)])
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(per.numpy(), bins=40)
    ax.axvline(float(per.mean()), color="red", label=f"mean {float(per.mean()):.3g}")
    ax.set_xlabel(f"local Lipschitz estimate ({output}, L1 / Linf), eps={eps:g}")
    ax.set_ylabel(f"{split} samples")
    ax.legend()
    png = save_figure(fig, analysis_path(opened.path, stem, ".png"))
    summary = {"run": str(opened.path), "split": split, "eps": eps, "n": int(per.numel()),
               "output": output, "steps": steps, "restarts": restarts,
               "lipschitz": float(per.mean()), "lipschitz_median": float(per.median()),
               "lipschitz_max": float(per.max()), "csv": str(csv_path), "png": str(png)}
    write_json_atomic(analysis_path(opened.path, stem, ".json"), summary)
    return summary
