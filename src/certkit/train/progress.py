"""A live progress bar for training (rich), silent when disabled."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainProgress:
    """Shows epoch, step, loss, accuracy and examples/s; refreshes at most 10 times a second."""

    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.enabled = enabled
        self.epochs, self.steps = epochs, steps
        self._progress: Progress | None = None
        self._task = None
        self._last = 0.0

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}  "
                           "{task.fields[rate]:.0f} ex/s"),
                TimeElapsedColumn(), console=Console(stderr=True), transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.steps, epoch=0,
                                                 epochs=self.epochs, loss=0.0, acc=0.0, rate=0.0)
        return self

    def start_epoch(self, epoch: int) -> None:
        if self._progress is not None:
            self._progress.reset(self._task, total=self.steps)
            self._progress.update(self._task, epoch=epoch + 1)

    def due(self) -> bool:
        """Whether a refresh is due (so callers compute the shown values only then)."""
        if self._progress is None:
            return False
        now = time.perf_counter()
        if now - self._last > 0.1:
            self._last = now
            return True
        return False

    def update(self, step: int, loss: float, acc: float, rate: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=loss, acc=acc, rate=rate)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(et, ev, tb)
