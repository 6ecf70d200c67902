"""``certkit analyze``: a group of diagnostic studies, one module per study.

Each study lives in ``cli/analyze_<name>.py`` and defines ``register(group)``; this module
finds them, so adding a study never edits a shared file (the same pattern as ``cmd_*``).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

group = typer.Typer(
    name="analyze",
    help="Diagnostic studies of a run: what its certificates and robustness mean.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``analyze`` group, with every ``analyze_*`` study, to the app."""
    from . import __path__ as pkg_path

    for mod in sorted(pkgutil.iter_modules(pkg_path), key=lambda m: m.name):
        if mod.name.startswith("analyze_"):
            importlib.import_module(f"{__package__}.{mod.name}").register(group)
    if group.registered_commands or group.registered_groups:
        app.add_typer(group)
