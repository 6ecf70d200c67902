"""Fixtures for the training-method tests: the digits data, a batch of it."""

from __future__ import annotations

import pytest
import torch

from certkit.data import load_dataset


@pytest.fixture(scope="session")
def digits():
    """The digits splits (1,437 train / 360 test 8x8 images)."""
    return load_dataset("digits")


@pytest.fixture
def batch(digits) -> tuple[torch.Tensor, torch.Tensor]:
    """32 training digits and their labels."""
    return digits.train.x[:32], digits.train.y[:32]
