"""``certkit models``: the architecture zoo."""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import DebugOpt, JsonOpt, out_console, run_guarded


def models_info(show: str | None = None, data: str = "mnist") -> dict[str, Any]:
    """The zoo (names, summaries, sources) or, with ``show``, one model layer by layer."""
    from ..data import get_info
    from ..models import ARCHITECTURES, build_model, describe, get_architecture, model_names

    if show is None:
        return {"models": [
            {"name": n, "summary": get_architecture(n).summary,
             "source": get_architecture(n).source}
            for n in model_names()
        ], "note": "any mlp-LxW works: L linear layers, L-1 hidden layers of W ReLUs",
            "count": len(ARCHITECTURES) + 1}
    info = get_info(data)
    arch = get_architecture(show)
    model = build_model(show, info.input_shape, info.num_classes, info.mean, info.std)
    s = describe(model, info.input_shape)
    return {
        "name": show, "dataset": data, "input_shape": list(info.input_shape),
        "summary": arch.summary, "source": arch.source,
        "layers": [{"index": li.index, "layer": li.layer, "output_shape": list(li.output_shape),
                    "params": li.params} for li in s.layers],
        "relu_neurons": s.relu_neurons, "parameters": s.parameters,
    }


def models_command(
    show: Annotated[str | None, typer.Option(help="Print one model layer by layer.")] = None,
    data: Annotated[str, typer.Option(help="Dataset that fixes input shape and classes.")]
    = "mnist",
    json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the model zoo, or show one architecture with its neuron count."""
    info = run_guarded(lambda: models_info(show, data), debug)
    if json:
        typer.echo(jsonlib.dumps(info))
        return
    if show is None:
        table = Table(title="certkit model zoo")
        for col in ("name", "layers", "source"):
            table.add_column(col)
        for m in info["models"]:
            table.add_row(m["name"], m["summary"], m["source"])
        out_console.print(table)
        out_console.print(info["note"])
        return
    table = Table(title=f"{show} on {data} {tuple(info['input_shape'])}: {info['summary']}")
    for col in ("#", "layer", "output shape", "params"):
        table.add_column(col)
    for li in info["layers"]:
        table.add_row(str(li["index"]), li["layer"], str(tuple(li["output_shape"])),
                      f"{li['params']:,}")
    out_console.print(table)
    out_console.print(f"ReLU neurons: {info['relu_neurons']:,}   parameters: "
                      f"{info['parameters']:,}   source: {info['source']}")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("models")(models_command)
