"""Worker processes end with their parent, and work travels by value."""

from __future__ import annotations

import multiprocessing.reduction as mpr
import subprocess
import sys
import time
from pathlib import Path

import torch

from certkit.processes import pack, unpack

PARENT = """
import multiprocessing as mp, os, signal
from certkit.processes import exit_with_parent
if __name__ == "__main__":
    pool = mp.get_context("spawn").Pool(1, exit_with_parent)
    print(pool.apply(os.getpid), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies without closing its pool
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its reaper, counts as ended)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def test_a_worker_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    pid = int(out.stdout.split()[0])
    end = time.monotonic() + 10.0
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    assert not _alive(pid), "the worker outlived its killed parent"


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
