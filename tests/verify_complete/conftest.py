"""Fixtures of the complete-verification tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = Path(os.environ.get("CERTKIT_BENCHMARKS", REPO.parent / "shared" / "benchmarks"))

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("highspy")


@pytest.fixture
def benchmarks() -> Path:
    """The shared VNN-COMP benchmark folder, or skip when it is absent."""
    if not (BENCHMARKS / "vnncomp_test").is_dir():
        pytest.skip(f"benchmarks not found at {BENCHMARKS}")
    return BENCHMARKS


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small float64 ops run fastest (and steadiest on a shared machine) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
