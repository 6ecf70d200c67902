"""SVHN cropped digits from ``<root>/SVHN/{train,test}_32x32.mat`` (MATLAB v5 files).

Each file holds ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with the digit 0 stored as 10,
exactly as torchvision reads them; the label 10 is mapped to 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from .base import RawData, RawSplit, corrupt

FOLDER = "SVHN"
TRAIN_FILE = "train_32x32.mat"
TEST_FILE = "test_32x32.mat"


def read_svhn_mat(path: Path) -> RawSplit:
    """One SVHN ``.mat`` file: images (N, 3, 32, 32) uint8 and labels 0..9."""
    if not path.is_file():
        raise corrupt(path, "file disappeared")
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except Exception as err:  # scipy raises many types for malformed files
        raise corrupt(path, f"not a readable MATLAB file ({type(err).__name__}: {err})") from err
    if "X" not in mat or "y" not in mat:
        raise corrupt(path, "expected variables 'X' and 'y'")
    x, y = mat["X"], np.asarray(mat["y"])
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 \
            or x.shape[:3] != (32, 32, 3):
        raise corrupt(path, f"'X' must be uint8 (32, 32, 3, N), found "
                            f"{getattr(x, 'dtype', '?')} {getattr(x, 'shape', '?')}")
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise corrupt(path, f"{x.shape[3]} images but {y.shape[0]} labels")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) \
            or not np.all(y == np.round(y)):
        raise corrupt(path, "labels are not integers")
    labels = y.astype(np.int64)
    labels[labels == 10] = 0
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # (H, W, C, N) -> (N, C, H, W)
    return RawSplit(images, labels)


def read_svhn(root: Path) -> RawData:
    """SVHN train (73,257) and test (26,032) splits; the ``extra`` set is not used."""
    folder = root / FOLDER
    return RawData(read_svhn_mat(folder / TRAIN_FILE), read_svhn_mat(folder / TEST_FILE))
