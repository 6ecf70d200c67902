"""Fixtures for the training-method tests: one thread, the digits data, a batch of it.

The tests run single-threaded: on two shared cores, intra-op threading of the tiny ops here
costs far more in synchronisation than it gains (the previous setting is restored).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from certkit.data import load_dataset


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits():
    """The digits splits (1,437 train / 360 test 8x8 images)."""
    return load_dataset("digits")


@pytest.fixture
def batch(digits) -> tuple[torch.Tensor, torch.Tensor]:
    """32 training digits and their labels."""
    return digits.train.x[:32], digits.train.y[:32]
