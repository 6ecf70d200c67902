"""What every worker process of certkit's pools does on start-up, and how their work is sent.

* A worker must not outlive the program that started it: if the parent dies (killed, or
  crashed), a worker in the middle of a search would otherwise run it to its end and keep
  the parent's output pipes open until then. :func:`exit_with_parent` starts a watch that
  ends the worker within :data:`WATCH` seconds of its parent's death.
* Tensors given to ``multiprocessing`` are sent through shared memory: torch's pickler moves
  each storage into shared memory *in place*, in the pool's feeder thread, while the caller
  may still hold it. :func:`pack` pickles the payload by value, once, in the calling thread,
  so the caller's tensors are never touched (a view travels as a copy of what it shows, not
  its whole storage); :func:`unpack` reverses it.
"""

from __future__ import annotations

import io
import os
import pickle
import threading
import time
from typing import Any

import torch

WATCH = 0.5  # seconds between checks that the parent is alive


def exit_with_parent() -> None:
    """End this process (exit code 1) soon after its parent dies."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH)
        os._exit(1)

    threading.Thread(target=watch, name="certkit-parent-watch", daemon=True).start()


class _ByValue(pickle.Pickler):
    """Plain pickling, except that a tensor viewing part of a larger storage is copied."""

    def reducer_override(self, obj: Any) -> Any:
        if (type(obj) is torch.Tensor
                and obj.untyped_storage().nbytes() > obj.numel() * obj.element_size()):
            copy = obj.detach().clone(memory_format=torch.contiguous_format)
            return _same, (copy.requires_grad_(obj.requires_grad),)
        return NotImplemented


def _same(x: Any) -> Any:
    return x


def pack(obj: Any) -> bytes:
    """``obj`` pickled by value (tensors copied, not moved into shared memory)."""
    buf = io.BytesIO()
    _ByValue(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def unpack(data: bytes) -> Any:
    """The object :func:`pack` pickled (data from this program's own workers only)."""
    return pickle.loads(data)  # noqa: S301 - our own payload, between our own processes
