"""Branch and bound on several processes: independent searches (tasks) run by a pool of
workers, joined into one verdict.

Every task is an independent search (for ReLU splitting: one group's rows and a stack of
its open subdomains), so the verdict does not depend on how many workers there are:
``sat`` as soon as one task finds a counterexample (confirmed in onnxruntime inside the
worker, with its own copy of the network), ``unsat`` when every task is proven, ``timeout``
at the deadline, ``unknown`` when a task ends without an answer. The pool
(``spawn``-ed processes, one torch thread each) starts before the tasks are known and is
terminated as soon as the verdict is known or the deadline passes, so the deadline holds
to within the polling interval. ``time.monotonic`` is system-wide, so the workers share the
caller's deadline exactly.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import torch

from .deadline import Deadline
from .input_bab import BabOutcome, merge_stats

Task = Callable[[tuple[Any, ...], Any, Deadline], BabOutcome]

POLL = 0.02  # seconds between checks of the workers' results

class Workers:
    """A pool of ``n`` ``spawn``-ed worker processes, started at once so that their start-up
    (importing torch) overlaps the caller's own work; terminated by :meth:`close`."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pool = mp.get_context("spawn").Pool(n, _init)

    def close(self) -> None:
        """Stop every worker now (running searches are abandoned)."""
        self.pool.terminate()
        self.pool.join()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, task: Task, tasks: list[Any], shared: tuple[Any, ...],
               deadline: Deadline) -> BabOutcome:
        """``task(shared, args, deadline)`` for every ``args`` of ``tasks`` within
        ``deadline``, joined into one outcome; the workers are closed when it is known.

        ``task`` is a module-level function (workers import it).
        """
        stats: dict[str, float] = {}
        end = time.monotonic() + deadline.remaining()
        try:
            pending = [self.pool.apply_async(_run, (task, shared, args, end)) for args in tasks]
            status = "unsat"
            while pending:
                if deadline.expired():
                    return BabOutcome("timeout", stats=stats)
                done = [p for p in pending if p.ready()]
                if not done:
                    time.sleep(POLL)
                    continue
                for p in done:
                    pending.remove(p)
                    out = p.get()
                    merge_stats(stats, out.stats)
                    if out.status in ("sat", "timeout"):
                        return BabOutcome(out.status, out.counterexample, stats)
                    if out.status != "unsat":
                        status = "unknown"
            return BabOutcome(status, stats=stats)
        finally:
            self.close()


def _init() -> None:
    torch.set_num_threads(1)


def _run(task: Task, shared: tuple[Any, ...], args: Any, end: float) -> BabOutcome:
    return task(shared, args, Deadline(end - time.monotonic()))
