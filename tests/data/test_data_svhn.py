"""SVHN .mat reader: layout (H, W, C, N) -> (N, C, H, W), label 10 -> 0, corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from certkit.data import load_dataset
from certkit.errors import CertkitError


def _write(root: Path, n: int = 15, seed: int = 0, **override: object) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    out = {}
    (root / "SVHN").mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # 1..10, 10 = digit 0
        scipy.io.savemat(root / "SVHN" / f"{split}_32x32.mat", {"X": x, "y": y, **override})
        out[split] = (x, y)
    return out


def test_svhn_round_trip(tmp_path: Path) -> None:
    ref = _write(tmp_path)
    s = load_dataset("svhn", data_dir=tmp_path)
    assert s.train.x.shape == (15, 3, 32, 32) and s.info.num_classes == 10
    x, y = ref["test"]
    expected_y = y.reshape(-1).astype(np.int64) % 10
    np.testing.assert_array_equal(s.test.y.numpy(), expected_y)
    assert 0 in s.test.y.tolist() and 10 not in s.test.y.tolist()
    back = (s.test.x * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(back, x.transpose(3, 2, 0, 1))
    # pixel (row 3, column 7, green) of image 4
    assert s.test.x[4, 1, 3, 7] * 255 == x[3, 7, 1, 4]


@pytest.mark.parametrize("override, match", [
    ({"X": np.zeros((32, 32, 3, 15), np.float64)}, "must be uint8"),
    ({"X": np.zeros((28, 28, 3, 15), np.uint8)}, r"\(32, 32, 3, N\)"),
    ({"y": np.ones((14, 1))}, "15 images but 14 labels"),
    ({"y": np.full((15, 1), 1.5)}, "not integers"),
    ({"y": np.full((15, 1), 11)}, r"labels must lie in 0\.\.9"),
])
def test_bad_svhn_content(tmp_path: Path, override: dict, match: str) -> None:
    _write(tmp_path, **override)
    with pytest.raises(CertkitError, match=match):
        load_dataset("svhn", data_dir=tmp_path)


def test_unreadable_mat(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "SVHN" / "test_32x32.mat").write_bytes(b"MATLAB 5.0 garbage" * 3)
    with pytest.raises(CertkitError, match="test_32x32.mat: not a readable MATLAB file"):
        load_dataset("svhn", data_dir=tmp_path)


def test_missing_variable(tmp_path: Path) -> None:
    (tmp_path / "SVHN").mkdir()
    for split in ("train", "test"):
        scipy.io.savemat(tmp_path / "SVHN" / f"{split}_32x32.mat", {"X": np.zeros(3)})
    with pytest.raises(CertkitError, match="'X' and 'y'"):
        load_dataset("svhn", data_dir=tmp_path)
