"""Shared CLI plumbing: error handling, --json output, common options.

Every command module is named ``cmd_<name>.py`` and defines ``register(app)``; ``app.py``
finds them, so adding a command never edits a shared file. Each command is a thin call of a
library function with the same arguments.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ..errors import CertkitError

T = TypeVar("T")

console = Console(stderr=True)
out_console = Console()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Torch device: cpu, cuda, cuda:1, ...")]


def run_guarded(fn: Callable[[], T], debug: bool = False) -> T:
    """Call ``fn``; turn user errors into one line on stderr and exit code 2."""
    try:
        return fn()
    except CertkitError as err:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as err:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(130) from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        return v.item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def emit(summary: Mapping[str, Any], as_json: bool, title: str) -> None:
    """Print ``summary`` as one JSON line (``--json``) or as a two-column table."""
    if as_json:
        sys.stdout.write(json.dumps(_jsonable(summary)) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in summary.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        table.add_row(str(k), str(v))
    out_console.print(table)
