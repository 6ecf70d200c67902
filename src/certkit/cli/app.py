"""The ``certkit`` command: a typer app assembled from the ``cmd_*`` modules."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from .. import __version__

app = typer.Typer(
    name="certkit",
    help="Train, attack, certify and analyse provably robust neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"certkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """certkit: provable robustness of neural networks."""


def _register_all() -> None:
    from . import __path__ as pkg_path

    for mod in sorted(pkgutil.iter_modules(pkg_path), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"{__package__}.{mod.name}").register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
