"""``certkit attack``: clean and robust accuracy of a run under an attack (+ examples, grid)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from ..errors import CertkitError
from ..runs import atomic_path
from .common import DebugOpt, DeviceOpt, JsonOpt, emit, run_guarded

_EXAMPLE_KEYS = ("x", "x_adv", "y", "pred_clean", "pred_adv", "params")


def _pick(result: dict[str, Any], k: int) -> list[int]:
    """Up to ``k`` indices: broken samples first, then robust ones, then clean errors."""
    ok = result["pred_clean"] == result["y"]
    broken = ok & (result["pred_adv"] != result["y"])
    order = [*broken.nonzero().flatten().tolist(), *(ok & ~broken).nonzero().flatten().tolist(),
             *(~ok).nonzero().flatten().tolist()]
    return order[:k]


def _image(t: torch.Tensor) -> Any:
    """(C, H, W) or flat tensor as something ``imshow`` draws."""
    if t.dim() == 3 and t.shape[0] in (1, 3):
        return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).clamp(0, 1).numpy()
    flat = t.flatten()
    side = math.isqrt(flat.numel())
    return (flat[: side * side].reshape(side, side) if side else flat[None]).numpy()


def save_grid(path: Path, result: dict[str, Any], k: int = 16, cols: int = 8,
              names: list[str] | None = None) -> None:
    """PNG of originals (upper row) and adversarials (lower row) with labels and predictions."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise CertkitError("--grid needs matplotlib: pip install matplotlib") from err
    picks = _pick(result, k)
    if not picks:
        raise CertkitError("no examples to draw")
    cols = min(cols, len(picks))
    pairs = math.ceil(len(picks) / cols)
    fig = Figure(figsize=(1.6 * cols, 3.4 * pairs))
    FigureCanvasAgg(fig)

    def label(c: int) -> str:
        return names[c] if names and 0 <= c < len(names) else str(c)

    for j, i in enumerate(picks):
        r, c = divmod(j, cols)
        y, p0, p1 = (int(result[key][i]) for key in ("y", "pred_clean", "pred_adv"))
        for row, key, text, wrong in ((2 * r, "x", f"y={label(y)} pred={label(p0)}", p0 != y),
                                      (2 * r + 1, "x_adv", f"adv pred={label(p1)}", p1 != y)):
            ax = fig.add_subplot(2 * pairs, cols, row * cols + c + 1)
            ax.imshow(_image(result[key][i]), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_title(text, fontsize=8, color="red" if wrong else "black")
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def attack_command(
    run: Annotated[Path, typer.Argument(help="Run directory (model.safetensors + model.json).")],
    attack: Annotated[str, typer.Option(help="fgsm, pgd, apgd-ce, apgd-dlr or trades.")] = "pgd",
    eps: Annotated[float, typer.Option(help="Perturbation radius in [0, 1] pixel space.")] = 0.1,
    norm: Annotated[str, typer.Option(help="linf or l2.")] = "linf",
    spec: Annotated[str | None, typer.Option(
        help="Perturbation set: linf, l2 (= --norm), biasfield, brightness or contrast "
             "(searched in the coefficient box; --eps is the coefficient radius).")] = None,
    order: Annotated[int, typer.Option(help="Bias-field polynomial order (--spec biasfield).")
                     ] = 3,
    field: Annotated[str, typer.Option(
        help="Bias fields of --spec biasfield: multiplicative, additive or both.")
        ] = "multiplicative",
    steps: Annotated[int, typer.Option(help="Steps per restart.")] = 50,
    restarts: Annotated[int, typer.Option(help="Random restarts.")] = 5,
    loss: Annotated[str, typer.Option(help="ce, margin or dlr (PGD, FGSM).")] = "ce",
    targeted: Annotated[bool, typer.Option("--targeted", help="PGD/APGD: target every "
                                           "other class.")] = False,
    n: Annotated[int | None, typer.Option("--n", help="Attack the first N test samples.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per attack batch.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the attack's random starts.")] = 0,
    save_examples: Annotated[Path | None, typer.Option(help="Write x, x_adv, y and the "
                                                       "predictions to this .npz.")] = None,
    grid: Annotated[Path | None, typer.Option(help="Write a PNG grid of originals vs "
                                              "adversarials (bias-field specs: originals, "
                                              "extreme fields, the attack's field).")] = None,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Attack a trained run's model on its test set; print clean and robust accuracy."""

    def go() -> dict[str, Any]:
        from ..analysis.adversarial import attack_run
        from ..analysis.adversarial import save_examples as write_npz
        from ..runs import load_run
        from ..verify.run import BIAS_SPECS, spec_factory

        keep = save_examples is not None or grid is not None
        opened = load_run(run)
        res = attack_run(opened, attack=attack, eps=eps, norm=norm, steps=steps,
                         restarts=restarts, loss=loss, targeted=targeted, n=n,
                         data_dir=data_dir, device=device, batch_size=batch_size, seed=seed,
                         keep_examples=keep, spec=spec, order=order, field=field)
        if save_examples is not None:
            write_npz(save_examples, res, eps=eps, attack=attack, norm=res["norm"])
            res["examples"] = str(save_examples)
        if grid is not None and spec in BIAS_SPECS:
            from ..analysis.biasfield_figure import biasfield_figure

            factory = spec_factory(spec, eps, order=order, field=field)
            biasfield_figure(opened.model, res, factory, grid)  # type: ignore[arg-type]
            res["grid"] = str(grid)
        elif grid is not None:
            save_grid(grid, res)
            res["grid"] = str(grid)
        return {k: v for k, v in res.items() if k not in _EXAMPLE_KEYS}

    summary = run_guarded(go, debug)
    emit(summary, json_out, title=f"certkit attack {attack}")


def register(app: typer.Typer) -> None:
    """Add ``certkit attack`` to the app."""
    app.command("attack")(attack_command)
