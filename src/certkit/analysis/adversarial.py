"""Empirical robustness: clean and adversarial accuracy of a model under an attack.

Only correctly classified samples are attacked, and every adversarial point is re-checked by
a fresh forward pass, so the robust accuracy never relies on the attack's own bookkeeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attacks.base import model_device_dtype
from ..devices import resolve_device
from ..errors import CertkitError, choice_error
from ..runs import Run, atomic_path, load_run

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def _batches(x: Any, y: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches from tensors, a (x, y) pair, or an iterable of (x, y) batches."""
    if isinstance(x, torch.Tensor):
        if not isinstance(y, torch.Tensor):
            raise CertkitError("labels y are needed with an input tensor x")
        if y.shape[:1] != x.shape[:1]:
            raise CertkitError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
        for i in range(0, x.shape[0], batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]
        return
    if y is not None:
        raise CertkitError("pass labels only with an input tensor; batches carry their own")
    for item in x:
        if not isinstance(item, tuple | list) or len(item) < 2:
            raise CertkitError("each batch must be an (inputs, labels) pair")
        yield item[0], item[1]


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)


def adversarial_accuracy(
    model: nn.Module,
    x: torch.Tensor | Batches,
    y: torch.Tensor | AttackFn | None = None,
    attack: AttackFn | None = None,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    keep_examples: bool = False,
) -> dict[str, Any]:
    """Clean and robust accuracy of ``model`` against ``attack``.

    Call as ``adversarial_accuracy(model, x, y, attack)`` with tensors, or
    ``adversarial_accuracy(model, loader, attack)`` with any iterable of ``(x, y)`` batches.
    The attack must build its set per batch (an eps or a spec factory, not a fixed Spec).
    Batches move to ``device`` (default: the model's).
    With ``keep_examples`` the result also holds CPU tensors ``x``, ``x_adv``, ``y``,
    ``pred_clean`` and ``pred_adv``, and ``params`` (B, k) when the attack searched a
    coefficient box (bias fields): the coefficients found, NaN for samples not attacked.
    """
    if attack is None and callable(y) and not isinstance(y, torch.Tensor):
        y, attack = None, y
    if attack is None or not callable(attack):
        raise CertkitError("adversarial_accuracy needs an attack")
    if batch_size < 1:
        raise CertkitError(f"batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device) if device is not None else model_device_dtype(model)[0]
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    n = clean = robust = 0
    kept: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "x_adv", "y", "pred_clean",
                                                           "pred_adv")}
    params: list[torch.Tensor] = []
    start = time.perf_counter()
    try:
        for xb, yb in _batches(x, y, batch_size):
            if dev is not None:
                xb, yb = xb.to(dev), yb.to(dev)
            pred = _predict(model, xb)
            ok = pred == yb
            x_adv = xb.clone()
            found = None
            if bool(ok.any()):
                x_adv[ok] = attack(xb[ok], yb[ok]).to(x_adv.dtype)
                found = getattr(attack, "last_params", None)
            if keep_examples and isinstance(found, torch.Tensor) and found.dim() == 2:
                rows = torch.full((xb.shape[0], found.shape[1]), float("nan"), dtype=found.dtype)
                rows[ok.cpu()] = found.detach().cpu()
                params.append(rows)
            pred_adv = _predict(model, x_adv)
            n += xb.shape[0]
            clean += int(ok.sum())
            robust += int((ok & (pred_adv == yb)).sum())
            if keep_examples:
                for k, v in zip(kept, (xb, x_adv, yb, pred, pred_adv), strict=True):
                    kept[k].append(v.detach().cpu())
    finally:
        for m, mode in was_training:
            m.training = mode
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "n": n,
        "clean_accuracy": clean / n if n else 0.0,
        "robust_accuracy": robust / n if n else 0.0,
        "attack_success_rate": (clean - robust) / clean if clean else 0.0,
        "seconds": seconds,
        "seconds_per_1000": 1000 * seconds / n if n else 0.0,
        "attack": repr(attack),
    }
    if keep_examples:
        out.update({k: torch.cat(v) if v else torch.empty(0) for k, v in kept.items()})
        if params and sum(p.shape[0] for p in params) == n:
            out["params"] = torch.cat(params)
    return out


def save_examples(path: str | Path, result: dict[str, Any], **meta: Any) -> None:
    """Write the examples kept by :func:`adversarial_accuracy` to ``.npz`` (plus ``meta``)."""
    import numpy as np

    keys = ("x", "x_adv", "y", "pred_clean", "pred_adv", "params")
    arrays = {k: result[k].numpy() for k in keys if k in result}
    arrays.update({k: np.asarray(v) for k, v in meta.items()})
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def attack_run(
    run: str | Path | Run,
    attack: str = "pgd",
    eps: float = 0.1,
    norm: str = "linf",
    steps: int = 50,
    restarts: int = 5,
    loss: str = "ce",
    targeted: bool = False,
    n: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 256,
    seed: int = 0,
    keep_examples: bool = False,
    spec: str | None = None,
    order: int = 3,
    field: str = "multiplicative",
) -> dict[str, Any]:
    """``certkit attack``: attack a run's model on the first ``n`` test samples.

    ``spec`` None (or ``linf``/``l2``) attacks the ``norm`` ball of radius ``eps``;
    ``biasfield`` (``order``, ``field``), ``brightness`` and ``contrast`` attack in the
    coefficient box of that transform (``eps`` the coefficient radius, a fraction).
    """
    from ..attacks import ATTACKS, LOSSES, make_attack
    from ..attacks.base import check_int, normalise_norm
    from ..verify.run import BIAS_SPECS, SPECS, spec_factory, spec_label

    if attack not in ATTACKS:
        raise choice_error("attack", attack, list(ATTACKS))
    if loss not in LOSSES:
        raise choice_error("attack loss", loss, list(LOSSES))
    if not math.isfinite(eps) or eps < 0:
        raise CertkitError(f"eps must be finite and >= 0, got {eps}")
    if spec is not None and spec not in SPECS:
        raise choice_error("spec", spec, list(SPECS))
    if spec in ("linf", "l2"):
        norm = spec
    norm = normalise_norm(norm)
    bias = spec in BIAS_SPECS
    target: Any = spec_factory(str(spec), eps, order=order, field=field) if bias else eps
    check_int("steps", steps, 1)
    check_int("restarts", restarts, 1)
    check_int("batch_size", batch_size, 1)
    if n is not None:
        check_int("n", n, 1)
    dev = resolve_device(device)
    opened = run if isinstance(run, Run) else load_run(run)
    model = opened.model.to(dev)
    options: dict[str, Any] = {"steps": steps, "restarts": restarts, "loss": loss,
                               "targeted": targeted or None, "seed": seed}
    atk = make_attack(attack, model, target, norm=norm, strict=False,
                      **{k: v for k, v in options.items() if v is not None})
    test = opened.load_data(data_dir).test
    x, y = test.x[:n], test.y[:n]
    res = adversarial_accuracy(model, x, y, atk, batch_size=batch_size, device=dev,
                               keep_examples=keep_examples)
    head = {"run": str(opened.path), "dataset": opened.dataset, "attack": attack, "eps": eps,
            "norm": atk.norm, "device": str(dev)}
    if bias:
        head = {**head, "spec": spec_label(str(spec), order, field), "norm": "coefficients"}
        if spec == "biasfield":
            head.update(order=order, field=field)
    return {**head, **{k: v for k, v in res.items() if k != "attack"}, "settings": repr(atk)}
