"""Shared fixtures: paths to the shared data, small deterministic settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CERTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))

# The whole suite runs single-threaded: its tensors are tiny, and on a busy 2-core machine
# OpenMP's barrier waits make two threads far slower than one. Subprocesses started by tests
# get OMP_NUM_THREADS=1 too, so results computed in and out of process are comparable.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture
def shared_data() -> Path:
    """The full MNIST / Fashion-MNIST root, or skip when it is absent."""
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
