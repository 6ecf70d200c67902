"""CIFAR-10 and CIFAR-100 python batches (torchvision's ``cifar-10-batches-py`` layout).

Each batch is a pickled dict with ``data`` (N, 3072) uint8 in channel-major order and
``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100). Files are read with a restricted
unpickler (:mod:`certkit.data.safe_pickle`) that refuses every global but numpy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import RawData, RawSplit, corrupt
from .safe_pickle import safe_loads

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_TRAIN = ("train",)
CIFAR100_TEST = ("test",)


def _key(batch: dict[Any, Any], key: str) -> Any:
    """``batch[key]`` whether the file was written by Python 2 (bytes keys) or 3 (str)."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise KeyError(key)


def read_batch(path: Path, label_key: str) -> RawSplit:
    """One pickled batch: images (N, 3, 32, 32) uint8 and int64 labels."""
    raw = path.read_bytes()
    try:
        batch = safe_loads(raw)
    except Exception as err:  # any failure of the pickle machinery means a bad file
        raise corrupt(path, f"not a valid CIFAR pickle ({type(err).__name__}: {err})") from err
    if not isinstance(batch, dict):
        raise corrupt(path, f"expected a pickled dict, found {type(batch).__name__}")
    try:
        data, labels = _key(batch, "data"), _key(batch, label_key)
    except KeyError as err:
        raise corrupt(path, f"missing key {err.args[0]!r}") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", None)
        raise corrupt(path, f"'data' must be a uint8 array (N, 3072), found "
                            f"{getattr(data, 'dtype', type(data).__name__)} {shape}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise corrupt(path, f"labels are not integers ({err})") from None
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise corrupt(path, f"{data.shape[0]} images but labels of shape {labels.shape}")
    return RawSplit(data.reshape(-1, 3, 32, 32), labels)


def _read_split(folder: Path, names: tuple[str, ...], label_key: str) -> RawSplit:
    parts = [read_batch(folder / name, label_key) for name in names]
    if len(parts) == 1:
        return parts[0]
    return RawSplit(np.concatenate([p.images for p in parts]),
                    np.concatenate([p.labels for p in parts]))


def read_cifar10(root: Path) -> RawData:
    """CIFAR-10 from ``root/cifar-10-batches-py``: 50,000 train and 10,000 test images."""
    folder = root / CIFAR10_FOLDER
    return RawData(_read_split(folder, CIFAR10_TRAIN, "labels"),
                   _read_split(folder, CIFAR10_TEST, "labels"))


def read_cifar100(root: Path) -> RawData:
    """CIFAR-100 (fine labels) from ``root/cifar-100-python``."""
    folder = root / CIFAR100_FOLDER
    return RawData(_read_split(folder, CIFAR100_TRAIN, "fine_labels"),
                   _read_split(folder, CIFAR100_TEST, "fine_labels"))
