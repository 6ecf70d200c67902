"""Fixtures for the dataset tests: tiny MNIST-family roots and a network guard."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datafiles import MNIST_NAMES, random_split, write_idx


@pytest.fixture
def mnist_root(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, np.ndarray]]]:
    """Build a tiny MNIST-family root: ``make(folder="MNIST", n_train=50, n_test=20, gz=True)``."""

    def make(folder: str = "MNIST", n_train: int = 50, n_test: int = 20, gz: bool = True,
             seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        xtr, ytr = random_split(rng, n_train, (28, 28), 10)
        xte, yte = random_split(rng, n_test, (28, 28), 10)
        raw = tmp_path / folder / "raw"
        for name, arr in zip(MNIST_NAMES, (xtr, ytr, xte, yte), strict=True):
            write_idx(raw / name, arr, gz)
        return tmp_path, {"xtr": xtr, "ytr": ytr, "xte": xte, "yte": yte}

    return make


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network from these tests fails loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
