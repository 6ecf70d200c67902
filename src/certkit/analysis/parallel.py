"""The searches of :func:`certkit.analysis.max_eps.max_robust_eps` (and the brute-force grid)
in worker processes.

The samples are cut into chunks that a pool of ``spawn``-ed processes (one torch thread
each) takes in turn, so a chunk of hard samples does not hold the others up. Each chunk's
search is independent of the others, so the result is the one a single process gives.
The model and the search settings travel to every worker once, pickled by value here
(:func:`certkit.processes.pack`), within this program only; workers end with their parent.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import torch
from torch import Tensor, nn

from ..processes import exit_with_parent, pack, unpack

T = TypeVar("T")
CHUNK = 256  # most samples per task: small enough to balance, large enough to batch


_STATE: dict[str, object] = {}


def _init(threads: int, payload: bytes) -> None:
    exit_with_parent()
    torch.set_num_threads(threads)
    task, model = unpack(payload)
    _STATE.update(task=task, model=model)


def _run(x: bytes) -> bytes:
    task, model = _STATE["task"], _STATE["model"]
    return pack(task(model, unpack(x)))  # type: ignore[operator]


def run_chunked(task: Callable[[nn.Module, Tensor], T], model: nn.Module, x: Tensor,
                workers: int) -> list[T]:
    """``task`` on chunks of ``x`` in ``workers`` processes, or on all of ``x`` here.

    Processes are used for CPU tensors with more than one sample and ``workers`` > 1; the
    results come back in the order of the chunks (one result without processes).
    """
    if workers > 1 and x.device.type == "cpu" and x.shape[0] > 1:
        return map_in_processes(task, model, x, workers)
    return [task(model, x)]


def map_in_processes(task: Callable[[nn.Module, Tensor], T], model: nn.Module, x: Tensor,
                     workers: int) -> list[T]:
    """``task(model, chunk)`` for consecutive chunks of ``x`` in ``workers`` processes.

    ``task`` must be picklable (a module-level class or function); the results come back in
    the order of the chunks.
    """
    chunk = max(1, min(CHUNK, -(-x.shape[0] // (4 * workers))))  # >= 4 tasks per worker
    parts = [pack(x[s:s + chunk]) for s in range(0, x.shape[0], chunk)]
    threads = max(1, torch.get_num_threads() // workers)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init,
                             initargs=(threads, pack((task, model)))) as pool:
        return [unpack(r) for r in pool.map(_run, parts)]
