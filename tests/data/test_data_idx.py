"""IDX reader: round trips (gzip and raw), EMNIST layout, and corrupt files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import idx_bytes, random_split, write_idx

from certkit.data import load_dataset
from certkit.data.idx import parse_idx, read_idx
from certkit.errors import CertkitError


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arr = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    path = write_idx(tmp_path / "x-idx3-ubyte", arr, gz)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (7, 5, 3)
    np.testing.assert_array_equal(out, arr)


def test_idx_multibyte_types() -> None:
    data = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + struct.pack(">3i", -1, 2, 70000)
    np.testing.assert_array_equal(parse_idx(data), [-1, 2, 70000])


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_layout_round_trip(mnist_root, gz: bool) -> None:
    root, ref = mnist_root(gz=gz)
    s = load_dataset("mnist", data_dir=root)
    assert s.train.x.shape == (50, 1, 28, 28) and s.test.x.shape == (20, 1, 28, 28)
    assert s.train.x.dtype == torch.float32 and s.train.y.dtype == torch.int64
    assert s.val is None
    back = (s.train.x * 255).round().to(torch.uint8).numpy()[:, 0]
    np.testing.assert_array_equal(back, ref["xtr"])
    np.testing.assert_array_equal(s.train.y.numpy(), ref["ytr"])
    np.testing.assert_array_equal(s.test.y.numpy(), ref["yte"])
    assert torch.equal(s.test.x[:, 0], torch.from_numpy(ref["xte"]).float() / 255)


def test_fashion_and_kmnist_folders(mnist_root) -> None:
    for name, folder in (("fashion-mnist", "FashionMNIST"), ("kmnist", "KMNIST")):
        root, ref = mnist_root(folder=folder, seed=3)
        s = load_dataset(name, data_dir=root)
        np.testing.assert_array_equal(s.test.y.numpy(), ref["yte"])
        assert s.info.name == name


def test_emnist_letters_transposed_and_shifted(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x, _ = random_split(rng, 30, (28, 28), 26)
    y = (np.arange(30) % 26 + 1).astype(np.uint8)  # labels 1..26 as in the files
    raw = tmp_path / "EMNIST" / "raw"
    for split, gz in (("train", False), ("test", True)):
        write_idx(raw / f"emnist-letters-{split}-images-idx3-ubyte", x, gz)
        write_idx(raw / f"emnist-letters-{split}-labels-idx1-ubyte", y, gz)
    s = load_dataset("emnist-letters", data_dir=tmp_path)
    assert s.info.num_classes == 26 and s.info.class_names[0] == "a"
    np.testing.assert_array_equal(s.train.y.numpy(), y.astype(np.int64) - 1)
    back = (s.test.x[:, 0] * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(back, x.transpose(0, 2, 1))


def _corrupt_mnist(root: Path, data: bytes, name: str = "train-images-idx3-ubyte.gz") -> None:
    (root / "MNIST" / "raw" / name).write_bytes(data)


@pytest.mark.parametrize("damage, match", [
    (lambda d: gzip.compress(b"\x01\x02" + d[2:]), "magic"),
    (lambda d: gzip.compress(d[:-100]), "truncated IDX"),
    (lambda d: gzip.compress(d + b"xx"), "trailing"),
    (lambda d: gzip.compress(d)[:-30], "gzip"),
    (lambda d: b"\x1f\x8b" + b"garbage" * 10, "gzip"),
    (lambda d: d, "not a gzip"),  # uncompressed content under a .gz name
    (lambda d: b"", "empty file"),
    (lambda d: gzip.compress(b""), "magic"),
    (lambda d: gzip.compress(bytes([0, 0, 0x08, 3]) + b"\0\0"), "truncated IDX header"),
    (lambda d: gzip.compress(bytes([0, 0, 0x07, 3]) + d[4:]), "data type"),
    (lambda d: gzip.compress(idx_bytes(np.zeros((50, 28), np.uint8))), "images"),
])
def test_corrupt_idx_files(mnist_root, damage, match: str) -> None:
    root, ref = mnist_root()
    _corrupt_mnist(root, damage(idx_bytes(ref["xtr"])))
    with pytest.raises(CertkitError, match=match) as err:
        load_dataset("mnist", data_dir=root)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_label_count_and_range_checked(mnist_root) -> None:
    root, ref = mnist_root()
    _corrupt_mnist(root, gzip.compress(idx_bytes(ref["ytr"][:-1])),
                   "train-labels-idx1-ubyte.gz")
    with pytest.raises(CertkitError, match="49 labels for 50 images"):
        load_dataset("mnist", data_dir=root)
    bad = ref["ytr"].copy()
    bad[0] = 10
    _corrupt_mnist(root, gzip.compress(idx_bytes(bad)), "train-labels-idx1-ubyte.gz")
    with pytest.raises(CertkitError, match=r"labels must lie in 0\.\.9"):
        load_dataset("mnist", data_dir=root)
