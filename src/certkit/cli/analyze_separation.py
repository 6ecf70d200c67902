"""``certkit analyze separation``: train-train / test-train separation of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import DebugOpt, JsonOpt, emit, run_guarded


def separation_command(
    data: Annotated[str, typer.Option(help="Dataset name (mnist, fashion-mnist, digits...).")]
    = "mnist",
    norm: Annotated[str, typer.Option(help="linf or l2.")] = "linf",
    eps: Annotated[float, typer.Option(help="Count points closer than 2 * eps.")] = 0.1,
    data_dir: Annotated[Path | None, typer.Option(help="Dataset root directory.")] = None,
    train_size: Annotated[int | None, typer.Option(help="Stratified training subset.")] = None,
    test_size: Annotated[int | None, typer.Option(help="Stratified test subset.")] = None,
    out: Annotated[Path, typer.Option(help="Folder whose analysis/ receives CSV/PNG/JSON.")]
    = Path("separation"),
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Exact minimum distance between differently-labelled points (TRADES/BN Table 2)."""

    def go() -> dict[str, Any]:
        from ..analysis.separation import separation

        return separation(data, norm=norm, eps=eps, data_dir=data_dir, train_size=train_size,
                          test_size=test_size, out=out)

    emit(run_guarded(go, debug), json_out, title=f"separation of {data}")


def register(group: typer.Typer) -> None:
    """Add ``certkit analyze separation``."""
    group.command("separation")(separation_command)
