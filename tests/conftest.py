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

SHARED_BENCHMARKS = Path(os.environ.get("CERTKIT_BENCHMARKS", REPO.parent / "shared" /
                                        "benchmarks"))


@pytest.fixture
def benchmarks() -> Path:
    """The shared benchmark networks and specs (ACAS Xu, mnist_fc, vnncomp_test), or skip."""
    if not ((SHARED_BENCHMARKS / "acasxu").is_dir()
            and (SHARED_BENCHMARKS / "vnncomp_test").is_dir()):
        pytest.skip(f"benchmarks not found at {SHARED_BENCHMARKS}")
    return SHARED_BENCHMARKS
