"""User-facing errors: one clear line, exit code 2 from the CLI."""

from __future__ import annotations


class CertkitError(Exception):
    """A problem with the user's input (bad option, missing file, corrupt checkpoint).

    The CLI prints ``str(error)`` on one line and exits with code 2; ``--debug`` shows the
    traceback. Library callers can catch it like any exception.
    """


def choice_error(kind: str, value: object, valid: list[str] | tuple[str, ...]) -> CertkitError:
    """An error for an unknown name that lists the valid ones."""
    return CertkitError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
