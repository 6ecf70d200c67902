"""A wall-clock deadline that every phase of the verifier polls."""

from __future__ import annotations

import time


class Deadline:
    """Expires ``seconds`` after creation (``None``: never)."""

    def __init__(self, seconds: float | None, start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self.end = None if seconds is None else self.start + max(0.0, seconds)

    def remaining(self) -> float:
        """Seconds left (inf without a limit, never negative)."""
        return float("inf") if self.end is None else max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        """Whether the time is up."""
        return self.end is not None and time.monotonic() >= self.end

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.start

    def fraction(self, share: float, cap: float = float("inf")) -> Deadline:
        """A deadline at ``share`` of the remaining time (and at most ``cap`` seconds)."""
        return Deadline(min(self.remaining() * share, cap))
