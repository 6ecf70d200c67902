"""Registry and load_dataset: names, metadata, digits split, subsets, sizes and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from certkit.data import (
    DatasetInfo,
    DatasetSplits,
    TensorPair,
    dataset_names,
    dataset_status,
    default_data_dir,
    get_info,
    load_dataset,
)
from certkit.data.digits import split_indices
from certkit.data.subsets import hash_u64, stratified_order
from certkit.errors import CertkitError

ALL = ["digits", "mnist", "fashion-mnist", "kmnist", "emnist-letters", "cifar10", "cifar100",
       "svhn", "gtsrb"]


def test_names_and_infos() -> None:
    assert dataset_names() == ALL
    for name in ALL:
        info = get_info(name)
        assert isinstance(info, DatasetInfo) and info.name == name
        c = info.input_shape[0]
        assert len(info.mean) == len(info.std) == c and c in (1, 3)
        assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)
        assert len(info.class_names) == info.num_classes == len(set(info.class_names))
        assert info.description and (name == "digits" or info.files)
    assert get_info("mnist").mean == (0.1307,) and get_info("mnist").std == (0.3081,)
    assert get_info("MNIST").name == "mnist" and get_info("fashion_mnist").name == "fashion-mnist"
    assert get_info("cifar100").num_classes == 100 and get_info("gtsrb").num_classes == 43


def test_digits_mean_std_match_the_train_split() -> None:
    s = load_dataset("digits")
    x = s.train.x.double()
    assert s.info.mean[0] == pytest.approx(float(x.mean()), abs=5e-5)
    assert s.info.std[0] == pytest.approx(float(x.std(unbiased=False)), abs=5e-5)


def test_digits_fixed_split() -> None:
    s = load_dataset("digits")
    assert isinstance(s, DatasetSplits) and isinstance(s.train, TensorPair)
    assert s.train.x.shape == (1437, 1, 8, 8) and s.test.x.shape == (360, 1, 8, 8)
    assert s.train.x.dtype == torch.float32 and s.train.y.dtype == torch.int64
    assert float(s.train.x.min()) == 0.0 and float(s.train.x.max()) == 1.0
    assert torch.bincount(s.test.y).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    bunch = load_digits()
    train, test = split_indices(bunch.target)
    assert not set(train) & set(test) and len(set(train) | set(test)) == 1797
    # pinned: the split is the same on every machine and numpy version
    assert test[:12].tolist() == [7, 9, 12, 15, 24, 42, 43, 57, 64, 67, 72, 80]
    assert int(test.sum()) == 326896
    expected = torch.from_numpy(bunch.images[test] / 16).float()[:, None]
    assert torch.equal(s.test.x, expected)
    assert torch.equal(load_dataset("digits").test.x, s.test.x)


def test_hash_and_order_are_pinned() -> None:
    assert hash_u64(0, "x", np.arange(3)).tolist() == [
        15897660314083285691, 3040962064691483400, 15881642243158934126]
    order = stratified_order(np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2]), 7, "test")
    assert order.tolist() == [7, 2, 3, 5, 8, 1, 9, 4, 0, 6]


def test_stratified_order_prefixes() -> None:
    rng = np.random.default_rng(0)
    for trial in range(40):
        k = int(rng.integers(2, 12))
        labels = rng.integers(0, k, int(rng.integers(20, 2000)))
        order = stratified_order(labels, trial, "t")
        assert np.array_equal(np.sort(order), np.arange(len(labels)))
        freq = np.bincount(labels, minlength=k) / len(labels)
        for n in rng.integers(1, len(labels), 10):
            counts = np.bincount(labels[order[:n]], minlength=k)
            assert np.abs(counts - n * freq).max() < 1  # every prefix is stratified


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x}


def test_subsets_deterministic_nested_stratified() -> None:
    a = load_dataset("digits", train_size=200, test_size=50, seed=3)
    b = load_dataset("digits", train_size=200, test_size=50, seed=3)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    c = load_dataset("digits", train_size=200, test_size=50, seed=4)
    assert not torch.equal(a.train.x, c.train.x)
    full = load_dataset("digits")
    for sub, ref in ((a.train.y, full.train.y), (a.test.y, full.test.y)):
        expected = torch.bincount(ref, minlength=10) * len(sub) / len(ref)
        assert (torch.bincount(sub, minlength=10) - expected).abs().max() < 1  # stratified
    big = load_dataset("digits", train_size=800, seed=3)
    assert _rows(a.train.x) <= _rows(big.train.x)  # nested subsets (digits has no duplicates)
    assert _rows(a.train.x) <= _rows(full.train.x) and _rows(a.test.x) <= _rows(full.test.x)


def test_val_split_disjoint_and_independent_of_train_size() -> None:
    s = load_dataset("digits", val_size=300, seed=1)
    assert s.val is not None and len(s.val.y) == 300 and len(s.train.y) == 1437 - 300
    assert not _rows(s.val.x) & _rows(s.train.x)
    assert _rows(s.val.x) | _rows(s.train.x) == _rows(load_dataset("digits").train.x)
    t = load_dataset("digits", val_size=300, train_size=100, seed=1)
    assert torch.equal(t.val.x, s.val.x) and not _rows(t.val.x) & _rows(t.train.x)
    assert len(t.train.y) == 100


@pytest.mark.parametrize("kwargs, match", [
    ({"train_size": 1438}, "train_size=1438 is larger than the 1437 training examples"),
    ({"train_size": 1400, "val_size": 100}, "left after val_size=100"),
    ({"test_size": 361}, "test_size=361 is larger than the 360 test examples"),
    ({"train_size": 0}, "train_size must be at least 1"),
    ({"test_size": -5}, "test_size must be at least 1"),
    ({"val_size": -1}, "val_size must be at least 0"),
    ({"val_size": 1437}, "one must stay for training"),
    ({"train_size": 10.5}, "train_size must be an integer"),
    ({"train_size": True}, "train_size must be an integer"),
    ({"seed": "x"}, "seed must be an integer"),
    ({"classes": 5}, "only gtsrb"),
])
def test_bad_sizes(kwargs: dict, match: str) -> None:
    with pytest.raises(CertkitError, match=match):
        load_dataset("digits", **kwargs)


def test_classes_equal_to_num_classes_is_accepted() -> None:
    assert load_dataset("digits", classes=10, test_size=20).info.num_classes == 10
    assert get_info("mnist", classes=10) == get_info("mnist")


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(CertkitError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    assert "unknown dataset 'imagenet'" in msg and all(n in msg for n in ALL)
    with pytest.raises(CertkitError, match="valid: digits"):
        get_info("nope")
    with pytest.raises(CertkitError, match="valid: digits"):
        dataset_status("nope")


def test_missing_files_message(tmp_path: Path) -> None:
    with pytest.raises(CertkitError) as err:
        load_dataset("mnist", data_dir=tmp_path / "nowhere")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nowhere") in msg and "does not exist" in msg
    for part in ("MNIST/raw/", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "--download", "--data-dir", "$CERTKIT_DATA"):
        assert part in msg
    ok, status = dataset_status("mnist", tmp_path)
    assert not ok and "train-images-idx3-ubyte.gz" in status


def test_partly_missing_names_the_missing_file(mnist_root) -> None:
    root, _ = mnist_root(gz=False)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    ok, msg = dataset_status("mnist", root)
    assert not ok and "missing MNIST/raw/t10k-labels-idx1-ubyte.gz" in msg
    with pytest.raises(CertkitError, match="missing MNIST/raw/t10k-labels"):
        load_dataset("mnist", data_dir=root)


def test_status_and_data_dir_from_environment(mnist_root, monkeypatch) -> None:
    root, ref = mnist_root()
    monkeypatch.setenv("CERTKIT_DATA", str(root))
    assert default_data_dir() == root
    assert dataset_status("mnist") == dataset_status("mnist", root)
    assert dataset_status("mnist")[0] and dataset_status("digits")[0]
    s = load_dataset("mnist", test_size=10, train_size=20, val_size=10)
    assert len(s.test.y) == 10 and len(s.train.y) == 20 and len(s.val.y) == 10
    monkeypatch.delenv("CERTKIT_DATA")
    assert default_data_dir() == Path.home() / ".cache" / "certkit"
