"""scikit-learn's bundled 8x8 digits (1,797 images, 16 grey levels): the offline default.

The split is fixed and the same on every machine: a stratified ordering of all 1,797 images
(:func:`certkit.data.subsets.stratified_order` with seed 0, a platform-independent hash, not
numpy's RNG) whose first 360 images (20 %, 35-37 per class) form the test set; the other 1,437
form the training set. Both keep the original order of ``load_digits``. Pixels are 0..16
integers; the registry divides by 16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import RawData, RawSplit, corrupt
from .subsets import stratified_order

TEST_SIZE = 360
SPLIT_SEED = 0


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (train, test) indices into ``load_digits()``, each in increasing order."""
    order = stratified_order(labels, SPLIT_SEED, "digits-split")
    return np.sort(order[TEST_SIZE:]), np.sort(order[:TEST_SIZE])


def read_digits(root: Path | None = None) -> RawData:
    """The fixed digits split; ``root`` is ignored (the data ship with scikit-learn)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    values = np.asarray(bunch.images)
    if values.shape != (1797, 8, 8) or values.min() < 0 or values.max() > 16 \
            or np.any(values != np.round(values)):
        raise corrupt("sklearn.datasets.load_digits", f"unexpected data {values.shape}")
    images = values.astype(np.uint8)[:, None]
    labels = np.asarray(bunch.target, np.int64)
    train, test = split_indices(labels)
    return RawData(RawSplit(images[train], labels[train]), RawSplit(images[test], labels[test]))
