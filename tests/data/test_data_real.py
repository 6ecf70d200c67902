"""The real MNIST and Fashion-MNIST files in ../shared/data (skipped when absent)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from certkit.data import dataset_status, load_dataset

pytestmark = pytest.mark.realdata

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _check_common(s, mean_255: float) -> None:
    assert s.train.x.shape == (60000, 1, 28, 28) and s.test.x.shape == (10000, 1, 28, 28)
    assert s.train.x.dtype == torch.float32 and s.train.y.dtype == torch.int64
    assert float(s.train.x.min()) == 0.0 and float(s.train.x.max()) == 1.0
    assert float(s.train.x.mean()) * 255 == pytest.approx(mean_255, abs=0.01)
    assert float(s.train.x.double().mean()) == pytest.approx(s.info.mean[0], abs=5e-5)
    assert float(s.train.x.double().std()) == pytest.approx(s.info.std[0], abs=5e-5)


def test_mnist_full(shared_data: Path) -> None:
    assert dataset_status("mnist", shared_data)[0]
    start = time.perf_counter()
    s = load_dataset("mnist", data_dir=shared_data)
    elapsed = time.perf_counter() - start
    _check_common(s, 33.318)
    assert float(s.test.x.mean()) * 255 == pytest.approx(33.791, abs=0.01)
    assert torch.bincount(s.test.y).tolist() == MNIST_TEST_COUNTS
    assert torch.bincount(s.train.y).tolist() == MNIST_TRAIN_COUNTS
    assert s.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # as in ERAN's CSV
    assert elapsed < 5.0  # typically ~0.5 s; generous for slow CI machines


def test_fashion_mnist_full(shared_data: Path) -> None:
    s = load_dataset("fashion-mnist", data_dir=shared_data)
    _check_common(s, 72.94)
    assert torch.bincount(s.train.y).tolist() == [6000] * 10
    assert torch.bincount(s.test.y).tolist() == [1000] * 10


def test_mnist_subsets(shared_data: Path) -> None:
    s = load_dataset("mnist", data_dir=shared_data, train_size=1000, test_size=100,
                     val_size=5000, seed=0)
    assert len(s.train.y) == 1000 and len(s.val.y) == 5000 and len(s.test.y) == 100
    assert torch.bincount(s.test.y).tolist() == [10, 11, 10, 10, 10, 9, 10, 10, 10, 10]
    again = load_dataset("mnist", data_dir=shared_data, train_size=1000, test_size=100,
                         val_size=5000, seed=0)
    assert torch.equal(s.train.x, again.train.x) and torch.equal(s.val.y, again.val.y)
