"""Datasets: a registry of named datasets, one reader per on-disk format, and downloads.

Files are read directly in torchvision's on-disk layout (IDX for the MNIST family, CIFAR
python pickles through a restricted unpickler, SVHN ``.mat``, GTSRB image folders); the
8x8 scikit-learn digits work offline. Images come back as float32 (N, C, H, W) in [0, 1];
normalisation is a model layer, using :attr:`DatasetInfo.mean` and :attr:`DatasetInfo.std`.

>>> splits = load_dataset("digits", train_size=500, val_size=100)
>>> splits.train.x.shape, splits.info.num_classes
(torch.Size([500, 1, 8, 8]), 10)
"""

from __future__ import annotations

from .api import dataset_names, dataset_status, get_info, load_dataset
from .base import DatasetInfo, DatasetSplits, TensorPair, default_data_dir

__all__ = [
    "DatasetInfo",
    "DatasetSplits",
    "TensorPair",
    "dataset_names",
    "dataset_status",
    "default_data_dir",
    "get_info",
    "load_dataset",
]
