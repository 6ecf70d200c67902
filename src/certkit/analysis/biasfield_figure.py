"""The bias-field figure (like Figure 1 of Henriksen & Lomuscio 2023): images, the extreme
bias fields an attack found, and whether each perturbed image is misclassified.

One row per sample: the original image; the images at the two extreme constant fields (every
constant coefficient at the low, then the high end of its interval, the other terms 0: the
darkest/brightest uniform change); the bias field the attack found (a heat map of the
multiplicative field ``B^m(a^m)``, or of ``B^a(a^a)`` for additive-only fields); and the
attacked image. Titles give the predicted class, in red when it is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CertkitError
from ..report.figures import new_figure, save_figure
from ..specs.biasfield import BiasField


def _pick(result: dict[str, Any], k: int) -> list[int]:
    """Attacked samples (params known), the broken ones first, at most ``k``."""
    params = result.get("params")
    if params is None or params.numel() == 0:
        raise CertkitError("no bias-field coefficients in the attack result (run the attack "
                           "with a bias-field spec and keep_examples=True)")
    attacked = ~torch.isnan(params).any(dim=1)
    broken = attacked & (result["pred_adv"] != result["y"])
    order = [*broken.nonzero().flatten().tolist(),
             *(attacked & ~broken).nonzero().flatten().tolist()]
    return order[:k]


def extreme_coefficients(field: BiasField, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients (B, k) with every constant term at its lower (resp. upper) end, the
    other terms at the box midpoint (0)."""
    spec = field(x)
    mid = (spec.coeff_lower + spec.coeff_upper) / 2
    const = field.constant_mask(x.shape[1]).to(x.device)
    return (torch.where(const, spec.coeff_lower, mid), torch.where(const, spec.coeff_upper, mid))


def _show(ax: Any, img: torch.Tensor, title: str, wrong: bool) -> None:
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_title(title, fontsize=7, color="red" if wrong else "black")
    ax.axis("off")


def biasfield_figure(model: nn.Module, result: dict[str, Any], field: BiasField,
                     path: str | Path, k: int = 6, names: list[str] | None = None) -> Path:
    """Draw up to ``k`` samples of an attack result (``adversarial_accuracy(...,
    keep_examples=True)`` under ``field``) to the PNG ``path``; returns the path."""
    picks = _pick(result, k)
    if not picks:
        raise CertkitError("no attacked samples to draw")
    idx = torch.tensor(picks)
    x, y = result["x"][idx], result["y"][idx]
    params = result["params"][idx].to(x.dtype)
    spec = field(x)
    low, high = extreme_coefficients(field, x)
    images = {"low": spec.point(low), "high": spec.point(high), "adv": spec.point(params)}
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    was = model.training
    model.eval()
    with torch.no_grad():
        preds = {key: model(v.to(dev)).argmax(1).cpu() for key, v in images.items()}
    model.train(was)
    mult, add = spec.fields(params)
    shown = mult if mult is not None else add
    assert shown is not None

    def label(c: int) -> str:
        return names[c] if names and 0 <= c < len(names) else str(c)

    cols = 5
    fig = new_figure(1.9 * cols, 2.0 * len(picks))
    for r in range(len(picks)):
        yi = int(y[r])
        p0 = int(result["pred_clean"][picks[r]])
        axes = [fig.add_subplot(len(picks), cols, r * cols + c + 1) for c in range(cols)]
        _show(axes[0], x[r], f"original y={label(yi)} pred={label(p0)}", p0 != yi)
        lo_c, hi_c = float(low[r][field.constant_mask(x.shape[1])][0]), float(
            high[r][field.constant_mask(x.shape[1])][0])
        pl, ph, pa = (int(preds[key][r]) for key in ("low", "high", "adv"))
        _show(axes[1], images["low"][r], f"const {lo_c:.3g}: pred={label(pl)}", pl != yi)
        _show(axes[2], images["high"][r], f"const {hi_c:.3g}: pred={label(ph)}", ph != yi)
        f = shown[r].mean(0)
        im = axes[3].imshow(f.numpy(), cmap="coolwarm")
        fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.04)
        kind = "B^m" if mult is not None else "B^a"
        axes[3].set_title(f"attack {kind} [{float(f.min()):.3g}, {float(f.max()):.3g}]",
                          fontsize=7)
        axes[3].axis("off")
        verdict = "wrong" if pa != yi else "ok"
        _show(axes[4], images["adv"][r], f"attacked pred={label(pa)} ({verdict})", pa != yi)
    return save_figure(fig, Path(path))
