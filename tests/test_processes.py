"""Worker processes end with their parent, and work travels by value."""

from __future__ import annotations

import multiprocessing.reduction as mpr
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from certkit.processes import pack, unpack

PARENT = """
import multiprocessing as mp, os, signal, sys, time
from certkit.processes import exit_with_parent

def busy(conn, watch):
    if watch:
        exit_with_parent()
    conn.send(os.getpid())
    time.sleep(120)  # a long task: without the watch it outlives its parent by minutes

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    ctx.Process(target=busy, args=(theirs, sys.argv[1] == "watch")).start()
    print(mine.recv(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies without stopping its worker
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its reaper, counts as ended)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _orphan(tmp_path: Path, watch: bool) -> tuple[int, bool]:
    """A busy worker's pid after its parent was killed, and whether it ended within 10 s."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    # (not run(): the orphan keeps the pipe open, so reading to its end would wait for it)
    parent = subprocess.Popen([sys.executable, str(script), "watch" if watch else "none"],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.wait(120)
    parent.stdout.close()
    end = time.monotonic() + 10.0
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    return pid, not _alive(pid)


def test_a_busy_worker_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    _, ended = _orphan(tmp_path, watch=True)
    assert ended, "the worker outlived its killed parent"
    pid, ended = _orphan(tmp_path, watch=False)  # the control: without the watch it lives
    try:
        assert not ended
    finally:
        os.kill(pid, signal.SIGKILL)


def test_pack_sends_values_and_leaves_the_tensors_where_they_are() -> None:
    x = torch.randn(1000, 50)
    data = pack({"view": x[10:12], "whole": x, "net": torch.nn.Linear(3, 2)})
    got = unpack(data)
    assert torch.equal(got["view"], x[10:12]) and torch.equal(got["whole"], x)
    assert got["view"].untyped_storage().nbytes() == 2 * 50 * 4  # the view's rows only
    assert isinstance(got["net"].weight, torch.nn.Parameter)
    assert not x.is_shared()  # never moved into shared memory
    assert len(pack(x[:2])) < 2000  # not the whole storage
    mpr.ForkingPickler.dumps(x)  # what multiprocessing would do instead: moves it
    assert x.is_shared()
