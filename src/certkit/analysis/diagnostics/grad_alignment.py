"""Alignment of robust-loss and cross-entropy gradients (SABR section 5.2, Table 3).

For a network trained with propagation-region ratio ``lambda`` (SABR; IBP is lambda = 1),
its robust training loss is the robust CE of IBP bounds over the SABR region (radius
``lambda * eps`` around a PGD point, projected into the eps-ball). Reported per run: the
mean over test batches of the cosine similarity between ``grad_theta`` of that loss and of
the CE at the clean (Std.) and at the PGD (Adv.) inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ...attacks import PGD
from ...bounds import propagate
from ...errors import CertkitError
from ...report.figures import analysis_path, new_figure, save_figure, write_csv
from ...runs import Run, write_json_atomic
from ...specs import Box
from ...train.methods.certified import ibp_margins, robust_cross_entropy
from ...train.methods.sabr import sabr_region
from .common import open_run, run_eps, run_points


def _flat_grad(loss: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, params, strict=True)])


def gradient_alignment(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                       lam: float, *, batch_size: int = 100, attack_steps: int = 10,
                       seed: int = 0) -> dict[str, float]:
    """Mean cosine similarity of ``grad L_rob`` with ``grad CE(x)`` and ``grad CE(x_adv)``.

    The model stays in eval mode (BatchNorm uses its running statistics).
    """
    if not 0 < lam <= 1:
        raise CertkitError(f"lambda must lie in (0, 1], got {lam}")
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise CertkitError("the model has no trainable parameters")
    atk = PGD(model, eps, steps=attack_steps, loss="ce", early_stop=False, seed=seed)
    std, adv = [], []
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = atk(xb, yb).detach()
        lo, hi = sabr_region(xb, x_adv, eps, lam)
        g_rob = _flat_grad(robust_cross_entropy(
            ibp_margins(propagate(model, Box(lo, hi), method="ibp"), yb), yb), params)
        g_std = _flat_grad(F.cross_entropy(model(xb), yb), params)
        g_adv = _flat_grad(F.cross_entropy(model(x_adv), yb), params)
        std.append(float(F.cosine_similarity(g_rob, g_std, dim=0)))
        adv.append(float(F.cosine_similarity(g_rob, g_adv, dim=0)))
    return {"cos_std": sum(std) / len(std), "cos_adv": sum(adv) / len(adv),
            "batches": len(std)}


def run_lambda(opened: Run) -> float:
    """The run's propagation-region ratio: ``sabr_lambda`` for SABR runs, else 1 (IBP)."""
    if opened.meta.get("method") != "sabr":
        return 1.0
    cfg = opened.path / "config.yaml"
    if cfg.is_file():
        data = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and data.get("sabr_lambda") is not None:
            return float(data["sabr_lambda"])
    return 0.4


def gradient_alignment_run(run_a: str | Path | Run, run_b: str | Path | Run, *,
                           eps: float | None = None, lam_a: float | None = None,
                           lam_b: float | None = None, n: int | None = 500,
                           batch_size: int = 100, attack_steps: int = 10,
                           data_dir: str | Path | None = None, device: str = "cpu",
                           seed: int = 0) -> dict[str, Any]:
    """Table 3 for two runs (e.g. IBP and SABR); CSV + PNG into both runs' analysis folders."""
    rows = []
    opened = []
    for run, lam in ((run_a, lam_a), (run_b, lam_b)):
        o = open_run(run, device)
        e = run_eps(o, eps)
        lam = run_lambda(o) if lam is None else float(lam)
        x, y = run_points(o, n, "test", data_dir)
        dev = next(o.model.parameters()).device
        res = gradient_alignment(o.model, x.to(dev), y.to(dev), e, lam, batch_size=batch_size,
                                 attack_steps=attack_steps, seed=seed)
        rows.append({"run": str(o.path), "method": o.meta.get("method", ""), "eps": e,
                     "lambda": lam, "cos_std": res["cos_std"], "cos_adv": res["cos_adv"],
                     "n": int(x.shape[0])})
        opened.append(o)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for k, r in enumerate(rows):
        ax.bar([k - 0.2], [r["cos_std"]], 0.4, color="tab:blue",
               label="Std." if k == 0 else None)
        ax.bar([k + 0.2], [r["cos_adv"]], 0.4, color="tab:orange",
               label="Adv." if k == 0 else None)
    ax.set_xticks(range(len(rows)), [f"{r['method']} (lambda={r['lambda']:g})" for r in rows])
    ax.set_ylabel("cosine(grad L_rob, grad L_CE)")
    ax.set_ylim(-1, 1)
    ax.legend()
    paths = []
    for o in opened:
        csv_path = write_csv(analysis_path(o.path, "gradient-alignment", ".csv"), rows)
        png = save_figure(fig, analysis_path(o.path, "gradient-alignment", ".png"))
        write_json_atomic(analysis_path(o.path, "gradient-alignment", ".json"), {"rows": rows})
        paths.append((csv_path, png))
    return {"a_method": rows[0]["method"], "a_lambda": rows[0]["lambda"],
            "a_cos_std": rows[0]["cos_std"], "a_cos_adv": rows[0]["cos_adv"],
            "b_method": rows[1]["method"], "b_lambda": rows[1]["lambda"],
            "b_cos_std": rows[1]["cos_std"], "b_cos_adv": rows[1]["cos_adv"],
            "csv": str(paths[0][0]), "png": str(paths[0][1])}
