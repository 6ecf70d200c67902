"""Types shared by the dataset layer: tensors, metadata, raw arrays and error helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..errors import CertkitError


class TensorPair(NamedTuple):
    """Images and labels of one split."""

    x: torch.Tensor  # float32 (N, C, H, W), values in [0, 1]
    y: torch.Tensor  # int64 (N,)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset (shape, classes, normalisation, files)."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    description: str
    files: tuple[str, ...]  # expected paths relative to the data directory ("dir/" = folder)


@dataclass
class DatasetSplits:
    """Train, optional validation and test tensors of a dataset, with its metadata."""

    train: TensorPair
    val: TensorPair | None
    test: TensorPair
    info: DatasetInfo


class RawSplit(NamedTuple):
    """A split as a reader returns it: integer pixels (N, C, H, W) and int64 labels (N,)."""

    images: np.ndarray  # uint8
    labels: np.ndarray  # int64


class RawData(NamedTuple):
    """The full training and test split of a dataset, as read from disk."""

    train: RawSplit
    test: RawSplit


def default_data_dir() -> Path:
    """``$CERTKIT_DATA`` if set, else ``~/.cache/certkit``."""
    env = os.environ.get("CERTKIT_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "certkit"


def corrupt(path: Path | str, why: str) -> CertkitError:
    """The error for a dataset file that exists but cannot be read."""
    return CertkitError(f"corrupt dataset file {path}: {why}")


def check_split(
    split: RawSplit,
    where: Path | str,
    shape: tuple[int, int, int],
    num_classes: int,
) -> RawSplit:
    """Validate a reader's output (dtype, shape, label range); return it with int64 labels."""
    images, labels = split
    if images.dtype != np.uint8:
        raise corrupt(where, f"expected uint8 pixels, found {images.dtype}")
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise corrupt(where, f"expected images of shape (N, {', '.join(map(str, shape))}), "
                             f"found {tuple(images.shape)}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise corrupt(where, f"{images.shape[0]} images but labels of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise corrupt(where, f"labels must be integers, found {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise corrupt(where, f"labels must lie in 0..{num_classes - 1}, "
                             f"found {labels.min()}..{labels.max()}")
    return RawSplit(images, labels)
