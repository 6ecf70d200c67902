"""Branch and bound on several processes: independent searches (tasks) run by a pool of
workers, joined into one verdict.

Every task is an independent search (for ReLU splitting: one group's rows and a stack of
its open subdomains), so the verdict does not depend on how many workers there are:
``sat`` as soon as one task finds a counterexample (confirmed in onnxruntime inside the
worker, with its own copy of the network), ``unsat`` when every task is proven, ``timeout``
at the deadline, ``unknown`` when a task ends without an answer.

The workers are ``spawn``-ed processes (one torch thread each), started before the tasks
are known so that their start-up (importing torch) overlaps the caller's own work. Each has
a pipe of its own: the shared payload (network, spec, bounds) goes to it once per search,
then one task at a time, each next task to the worker that finished one. Everything is pickled by
value in this thread (:func:`certkit.processes.pack`) and written by one sender thread per
worker, so the caller never blocks on a worker that is still starting. :meth:`Workers.close`
kills the workers and closes the pipes, which frees a blocked sender at once: the deadline
holds to within the polling interval (``multiprocessing.Pool.terminate`` can instead wait
forever on a task half-written into a full pipe). A worker whose parent dies ends too.
``time.monotonic`` is system-wide, so the workers share the caller's deadline exactly.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from ...errors import CertkitError
from ...processes import exit_with_parent, pack, unpack
from .deadline import Deadline
from .input_bab import BabOutcome, merge_stats

Task = Callable[[tuple[Any, ...], Any, Deadline], BabOutcome]

POLL = 0.02  # seconds between checks of the deadline while waiting for results


class _Worker:
    """One process, its end of the pipe and the thread that writes to it."""

    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.sender.start()

    def _send(self) -> None:
        while (msg := self.outbox.get()) is not None:
            try:
                self.conn.send_bytes(msg)
            except (OSError, ValueError, TypeError):  # the worker is dead or the pipe closed
                return

    def close(self) -> None:
        """Kill the worker; its death breaks the pipe, which ends a blocked send."""
        self.process.kill()
        self.process.join(1.0)
        self.outbox.put(None)
        self.sender.join(1.0)
        self.conn.close()


class Workers:
    """``n`` worker processes, started at once; stopped by :meth:`close`."""

    def __init__(self, n: int) -> None:
        self.n = n
        ctx = mp.get_context("spawn")
        self._workers = [_Worker(ctx) for _ in range(n)]

    def close(self) -> None:
        """Stop every worker now (running searches are abandoned)."""
        for w in self._workers:
            w.close()
        self._workers = []

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
        payload = pack(("shared", (task, shared)))
        todo = [pack(("task", (args, end))) for args in tasks]
        todo.reverse()
        busy: dict[Connection, _Worker] = {}
        try:
            for w in self._workers:
                w.outbox.put(payload)
                if todo:
                    w.outbox.put(todo.pop())
                    busy[w.conn] = w
            status = "unsat"
            while busy:
                if deadline.expired():
                    return BabOutcome("timeout", stats=stats)
                for conn in wait(list(busy), timeout=max(0.0, min(POLL, deadline.remaining()))):
                    w = busy.pop(conn)  # type: ignore[arg-type]
                    out = _result(conn)
                    merge_stats(stats, out.stats)
                    if out.status in ("sat", "timeout"):
                        return BabOutcome(out.status, out.counterexample, stats)
                    if out.status != "unsat":
                        status = "unknown"
                    if todo:
                        w.outbox.put(todo.pop())
                        busy[w.conn] = w
            return BabOutcome(status, stats=stats)
        finally:
            self.close()


def _result(conn: Connection) -> BabOutcome:
    """A worker's outcome, or its error raised here."""
    try:
        kind, value = unpack(conn.recv_bytes())
    except (EOFError, OSError) as err:
        raise CertkitError("a branch-and-bound worker process died") from err
    if kind == "error":
        raise CertkitError(f"a branch-and-bound worker failed:\n{value}")
    return value  # type: ignore[no-any-return]


def _serve(conn: Connection) -> None:
    """A worker's loop: keep the search's shared payload, run each task, send its outcome."""
    exit_with_parent()
    torch.set_num_threads(1)
    task: Task | None = None
    common: tuple[Any, ...] = ()
    while True:
        try:
            kind, value = unpack(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if kind == "shared":
            task, common = value
            continue
        args, end = value
        try:
            assert task is not None, "a task before the shared payload"
            reply: tuple[str, Any] = ("ok", task(common, args, Deadline(end - time.monotonic())))
        except Exception:  # noqa: BLE001 - sent to the caller, which raises it
            reply = ("error", traceback.format_exc())
        conn.send_bytes(pack(reply))
