"""CIFAR pickles: round trips in the official (Python 2) format, and the restricted unpickler."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import cifar_batch, py2_pickle, random_split

from certkit.data import load_dataset
from certkit.data.safe_pickle import safe_loads
from certkit.errors import CertkitError


def _write_cifar10(root: Path, n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x, y = random_split(rng, n, (3, 32, 32), 10)
        (folder / name).write_bytes(py2_pickle(cifar_batch(x, y, "labels")))
        xs.append(x)
        ys.append(y)
    return np.stack(xs), np.stack(ys)


def test_cifar10_round_trip(tmp_path: Path) -> None:
    xs, ys = _write_cifar10(tmp_path)
    s = load_dataset("cifar10", data_dir=tmp_path)
    assert s.train.x.shape == (60, 3, 32, 32) and s.test.x.shape == (12, 3, 32, 32)
    assert s.info.input_shape == (3, 32, 32) and s.info.class_names[0] == "airplane"
    np.testing.assert_array_equal(s.train.y.numpy(), ys[:5].reshape(-1))
    np.testing.assert_array_equal(s.test.y.numpy(), ys[5])
    back = (s.train.x * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(back, xs[:5].reshape(60, 3, 32, 32))
    # channel-major layout: the first 1024 values of a row are the red plane
    assert torch.equal(s.test.x[0, 0].reshape(-1) * 255,
                       torch.from_numpy(xs[5][0, 0].reshape(-1)).float())


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = {}
    for name in ("train", "test"):
        x, y = random_split(rng, 20, (3, 32, 32), 100)
        batch = cifar_batch(x, y, "fine_labels")
        batch[b"coarse_labels"] = [0] * 20
        (folder / name).write_bytes(py2_pickle(batch))
        data[name] = (x, y)
    s = load_dataset("cifar100", data_dir=tmp_path)
    assert s.info.num_classes == 100
    np.testing.assert_array_equal(s.test.y.numpy(), data["test"][1])
    np.testing.assert_array_equal((s.train.x * 255).round().to(torch.uint8).numpy(),
                                  data["train"][0])


def test_python3_pickles_are_read_too(tmp_path: Path) -> None:
    x = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072) % 251
    for protocol in (2, 4, 5):
        blob = pickle.dumps({"data": x, "labels": [3, 4]}, protocol=protocol)
        out = safe_loads(blob)
        np.testing.assert_array_equal(out["data"], x)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_is_refused(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = py2_pickle(cifar_batch(np.zeros((2, 3, 32, 32), np.uint8), [0, 1], "labels"))
    for name in [f"data_batch_{i}" for i in range(2, 6)] + ["test_batch"]:
        (folder / name).write_bytes(good)
    evil = {b"data": _Evil(marker), b"labels": [0]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(CertkitError, match="forbidden global"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("__builtin__", "eval"), ("os", "system"), ("subprocess", "Popen"),
    ("numpy", "load"), ("numpy.core.multiarray", "fromstring"),
])
def test_unpickler_refuses_other_globals(module: str, name: str) -> None:
    blob = pickle.PROTO + b"\x02" + pickle.GLOBAL + f"{module}\n{name}\n".encode() + b"."
    with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
        safe_loads(blob)


def test_codecs_encode_is_latin1_only() -> None:
    blob = pickle.dumps(b"\x00\xffab", protocol=2)  # uses _codecs.encode(..., 'latin1')
    assert safe_loads(blob) == b"\x00\xffab"
    evil = blob.replace(b"latin1", b"rot_13")
    with pytest.raises(pickle.UnpicklingError, match="forbidden codec"):
        safe_loads(evil)


@pytest.mark.parametrize("content, match", [
    (lambda good: good[: len(good) // 2], "not a valid CIFAR pickle"),
    (lambda good: b"not a pickle at all", "not a valid CIFAR pickle"),
    (lambda good: b"", "not a valid CIFAR pickle"),
    (lambda good: py2_pickle([1, 2, 3]), "expected a pickled dict"),
    (lambda good: py2_pickle({b"data": np.zeros((2, 3072), np.uint8)}), "missing key"),
    (lambda good: py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
     r"uint8 array \(N, 3072\)"),
    (lambda good: py2_pickle({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
     "uint8"),
    (lambda good: py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
     "2 images but labels"),
    (lambda good: py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
     r"labels must lie in 0\.\.9"),
])
def test_corrupt_cifar_files(tmp_path: Path, content, match: str) -> None:
    _write_cifar10(tmp_path, n=2)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(CertkitError, match=match):
        load_dataset("cifar10", data_dir=tmp_path)


def test_missing_batch_named(tmp_path: Path) -> None:
    _write_cifar10(tmp_path, n=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(CertkitError, match="missing cifar-10-batches-py/data_batch_3"):
        load_dataset("cifar10", data_dir=tmp_path)
