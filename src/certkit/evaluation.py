"""Accuracy of a trained run: clean, and with ``all=True`` PGD-robust and certified (IBP, CROWN).

The robust metrics are computed per eps (the run's training eps and any others asked for)
on the same samples:

- ``ibp_certified@EPS`` / ``crown_certified@EPS``: fraction of samples certified correct by
  :func:`certkit.verify.certify` with that bound method (float64 verdicts);
- ``pgd_accuracy@EPS``: fraction of samples on which PGD (``pgd_steps`` steps, margin loss,
  ``pgd_restarts`` random restarts) finds no misclassified point in the Linf eps-ball.

Order of work (each step only where it can still change a verdict, so the numbers are those
of running everything on every sample): misclassified samples fail everything; IBP (cheap)
certifies; PGD's first restart attacks the samples IBP did not certify; CROWN runs on the
samples that attack did not break (a broken sample cannot be certified); PGD's remaining
restarts (fresh random starts) attack what neither method certified (a certified sample has
no adversarial example). Hence ``pgd >= max(ibp, crown)`` always.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CertkitError
from .models.predict import accuracy, predict_logits
from .runs import append_jsonl, load_run

SPLITS = ("test", "train", "val")


def _certified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, method: str,
               batch_size: int) -> torch.Tensor:
    """Boolean mask: certified correct by ``method`` at ``eps`` (Linf, within [0, 1])."""
    from .specs import LinfBall
    from .verify.certify import certify

    out = torch.zeros(x.shape[0], dtype=torch.bool)
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s:s + batch_size], y[s:s + batch_size]
        res = certify(model, xb, yb, LinfBall(xb, eps), method)
        out[s:s + xb.shape[0]] = torch.tensor([r.certified for r in res])
    return out


def _pgd_robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                restarts: int, targeted: bool, batch_size: int, seed: int) -> torch.Tensor:
    """Boolean mask: PGD finds no misclassified point (re-checked by a forward pass)."""
    from .attacks import PGD

    atk = PGD(model, eps, steps=steps, restarts=restarts, loss="margin", targeted=targeted,
              seed=seed)
    out = torch.zeros(x.shape[0], dtype=torch.bool)
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s:s + batch_size], y[s:s + batch_size]
        x_adv = atk(xb, yb)
        out[s:s + xb.shape[0]] = (predict_logits(model, x_adv).argmax(1) == yb).cpu()
    return out


def robust_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float], *,
                   pgd_steps: int = 50, pgd_restarts: int = 5, pgd_targeted: bool = False,
                   batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Clean accuracy and, per eps, PGD-robust, IBP- and CROWN-certified accuracy of ``model``.

    See the module docstring for the order of work; ``seed`` fixes the attack's starts.
    """
    start = time.perf_counter()
    pred = predict_logits(model, x).argmax(dim=1)
    correct = (pred == y).cpu()
    n = x.shape[0]
    out: dict[str, Any] = {"n": n, "accuracy": float(correct.float().mean())}
    idx = correct.nonzero().squeeze(1)
    xc, yc = x[idx.to(x.device)], y[idx.to(y.device)]

    def attack(mask: torch.Tensor, e: float, restarts: int, s: int) -> torch.Tensor:
        """Of the samples in ``mask``, those the attack breaks."""
        broken = torch.zeros_like(mask)
        rows = mask.nonzero().squeeze(1)
        if rows.numel():
            r = rows.to(xc.device)
            broken[rows] = ~_pgd_robust(model, xc[r], yc[r], e, pgd_steps, restarts,
                                        pgd_targeted, batch_size, s)
        return broken

    def certified(mask: torch.Tensor, e: float, method: str) -> torch.Tensor:
        """Of the samples in ``mask``, those ``method`` certifies."""
        ok = torch.zeros_like(mask)
        rows = mask.nonzero().squeeze(1)
        if rows.numel():
            r = rows.to(xc.device)
            ok[rows] = _certified(model, xc[r], yc[r], e, method, batch_size)
        return ok

    everyone = torch.ones(idx.numel(), dtype=torch.bool)
    for e in eps:
        ibp = certified(everyone, e, "ibp")
        broken = attack(~ibp, e, 1, seed)
        crown = certified(~broken, e, "crown")
        if pgd_restarts > 1:
            broken |= attack(~(broken | ibp | crown), e, pgd_restarts - 1, seed + 1)
        key = f"{e:g}"
        out[f"pgd_accuracy@{key}"] = int((~broken).sum()) / n
        out[f"ibp_certified@{key}"] = int(ibp.sum()) / n
        out[f"crown_certified@{key}"] = int(crown.sum()) / n
    out["seconds"] = time.perf_counter() - start
    return out


def _eps_list(meta: dict[str, Any], eps: Sequence[float] | None) -> list[float]:
    values = [float(meta.get("eps") or 0.0)] + [float(e) for e in (eps or [])]
    for e in values:
        if not math.isfinite(e) or e < 0:
            raise CertkitError(f"eps must be a finite number >= 0, got {e}")
    out = sorted({e for e in values if e > 0})
    if not out:
        raise CertkitError("the run was trained without eps; pass --eps EPS for the robust "
                           "metrics")
    return out


def evaluate(
    run: str | Path,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    n: int | None = None,
    batch_size: int = 1024,
    device: str = "cpu",
    all: bool = False,  # mirrors ``certkit eval --all``
    eps: Sequence[float] | None = None,
    pgd_steps: int = 50,
    pgd_restarts: int = 5,
    pgd_targeted: bool = False,
) -> dict[str, Any]:
    """Clean accuracy of the network in ``run`` on ``split`` of its dataset (or ``data``).

    ``n`` limits the evaluation to the first ``n`` examples of the split. With ``all``, also
    PGD-robust and IBP-/CROWN-certified accuracy (see the module docstring) at the run's
    training eps and every eps of ``eps``; the summary is appended to ``results.jsonl``.
    """
    from .data import load_dataset

    if split not in SPLITS:
        raise CertkitError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if n is not None and n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    if eps and not all:
        raise CertkitError("--eps is used by the robust metrics: pass --all")
    if pgd_steps < 1 or pgd_restarts < 1:
        raise CertkitError("pgd_steps and pgd_restarts must be >= 1")
    r = load_run(run)
    eps_values = _eps_list(r.meta, eps) if all else []
    if data is None or data == r.dataset:
        splits = r.load_data(data_dir)
        name = r.dataset
    else:
        splits = load_dataset(data, data_dir=data_dir)
        name = data
        if tuple(splits.info.input_shape) != tuple(r.meta["input_shape"]):
            raise CertkitError(f"dataset {data!r} has inputs of shape "
                               f"{tuple(splits.info.input_shape)}, the model expects "
                               f"{tuple(r.meta['input_shape'])}")
    pair = getattr(splits, split)
    if pair is None:
        raise CertkitError(f"the run has no {split!r} split (train with --val-size N)")
    x, y = pair.x[:n], pair.y[:n]
    model = r.model.to(device)
    head = {"run": str(r.path), "dataset": name, "split": split, "n": int(x.shape[0])}
    if not all:
        acc = accuracy(model, x.to(device), y.to(device), batch_size)
        return {**head, "accuracy": acc}
    metrics = robust_metrics(model, x.to(device), y.to(device), eps_values,
                             pgd_steps=pgd_steps, pgd_restarts=pgd_restarts,
                             pgd_targeted=pgd_targeted, batch_size=min(batch_size, 256))
    summary = {**head, **metrics, "eps": eps_values,
               "pgd": f"{pgd_steps}x{pgd_restarts} margin" + (" targeted" if pgd_targeted
                                                              else "")}
    append_jsonl(r.path / "results.jsonl", {"command": "eval", **summary})
    return summary
