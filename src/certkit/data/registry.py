"""The dataset registry: metadata, reader and download resources of every named dataset.

Normalisation constants are the per-channel mean/std of the training split in [0, 1]
(CIFAR-10 uses the (0.2023, 0.1994, 0.2010) std of ERAN, CROWN-IBP and SABR so that ported
networks match). URLs and MD5s are the ones torchvision uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from . import classnames as names
from .base import DatasetInfo, RawData
from .cifar import (
    CIFAR10_FOLDER,
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    CIFAR100_FOLDER,
    CIFAR100_TEST,
    CIFAR100_TRAIN,
    read_cifar10,
    read_cifar100,
)
from .digits import read_digits
from .download import Resource
from .gtsrb import TEST_CSV, TEST_DIR, TRAIN_DIR, read_gtsrb
from .idx import read_idx_dataset
from .svhn import FOLDER as SVHN_FOLDER
from .svhn import TEST_FILE as SVHN_TEST
from .svhn import TRAIN_FILE as SVHN_TRAIN
from .svhn import read_svhn


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, read and download one dataset."""

    info: DatasetInfo
    reader: Callable[..., RawData]
    resources: tuple[Resource, ...] = ()
    pixel_max: float = 255.0  # raw pixel value that maps to 1.0
    idx_files: bool = False  # files may be stored gzipped (.gz) or raw
    class_subsets: bool = False  # supports ``classes=k`` (keep the first k classes)

    def read(self, root: Path, classes: int | None) -> RawData:
        """Read the full train and test splits from ``root``."""
        if self.class_subsets:
            return self.reader(root, classes)
        return self.reader(root)


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_spec(name: str, folder: str, mirrors: tuple[str, ...], md5s: tuple[str, ...],
              mean: float, std: float, class_names: tuple[str, ...], about: str) -> DatasetSpec:
    files = tuple(f"{folder}/raw/{f}.gz" for f in _MNIST_FILES)
    resources = tuple(
        Resource(urls=tuple(m + f.rsplit("/", 1)[1] for m in mirrors), md5=md5, dest=f,
                 provides=(f,))
        for f, md5 in zip(files, md5s, strict=True))
    info = DatasetInfo(name, (1, 28, 28), len(class_names), (mean,), (std,), class_names,
                       about, files)
    return DatasetSpec(info, partial(read_idx_dataset, folder=folder, files=_MNIST_FILES),
                       resources, idx_files=True)


def _emnist_letters() -> DatasetSpec:
    stems = tuple(f"emnist-letters-{s}-{k}-ubyte" for s in ("train", "test")
                  for k in ("images-idx3", "labels-idx1"))
    files = tuple(f"EMNIST/raw/{s}" for s in stems)
    zip_res = Resource(
        urls=("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
              "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip"),
        md5="58c8d27c78d21e728a6bc7b3cc06412e", dest="EMNIST/raw/gzip.zip", provides=files,
        extract="zip", members=tuple((f"gzip/{s}.gz", f"EMNIST/raw/{s}.gz") for s in stems))
    info = DatasetInfo(
        "emnist-letters", (1, 28, 28), 26, (0.1722,), (0.3309,), names.LETTERS,
        "EMNIST letters: 124,800 train / 20,800 test 28x28 handwritten letters a-z (upper and "
        "lower case merged), shown upright (the files store images transposed); labels 1..26 "
        "mapped to 0..25.", files)
    return DatasetSpec(info, partial(read_idx_dataset, folder="EMNIST", files=stems,
                                     transpose=True, label_offset=1), (zip_res,), idx_files=True)


def _cifar(name: str, folder: str, files: tuple[str, ...], url: str, md5: str,
           mean: tuple[float, ...], std: tuple[float, ...], class_names: tuple[str, ...],
           reader: Callable[[Path], RawData], about: str) -> DatasetSpec:
    rel = tuple(f"{folder}/{f}" for f in files)
    res = Resource(urls=(url,), md5=md5, dest=url.rsplit("/", 1)[1], provides=rel,
                   extract="tar")
    info = DatasetInfo(name, (3, 32, 32), len(class_names), mean, std, class_names, about, rel)
    return DatasetSpec(info, reader, (res,))


def _svhn() -> DatasetSpec:
    rel = (f"{SVHN_FOLDER}/{SVHN_TRAIN}", f"{SVHN_FOLDER}/{SVHN_TEST}")
    md5s = ("e26dedcc434d2e4c54c9b2d4a06d8373", "eb5a983be6a315427106f1b164d9cef3")
    res = tuple(Resource(urls=("http://ufldl.stanford.edu/housenumbers/" + r.split("/")[1],),
                         md5=m, dest=r, provides=(r,)) for r, m in zip(rel, md5s, strict=True))
    info = DatasetInfo("svhn", (3, 32, 32), 10, (0.4377, 0.4438, 0.4728),
                       (0.1980, 0.2010, 0.1970), names.DIGITS,
                       "SVHN cropped digits: 73,257 train / 26,032 test 32x32 RGB house-number "
                       "digits (label 10 mapped to 0; the 'extra' set is not used).", rel)
    return DatasetSpec(info, read_svhn, res)


def _gtsrb() -> DatasetSpec:
    base = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
    files = (f"{TRAIN_DIR}/", f"{TEST_DIR}/", TEST_CSV)
    res = (
        Resource((base + "GTSRB-Training_fixed.zip",), "513f3c79a4c5141765e10e952eaa2478",
                 "gtsrb/GTSRB-Training_fixed.zip", (files[0],), "zip", "gtsrb"),
        Resource((base + "GTSRB_Final_Test_Images.zip",), "c7e4e6327067d32654124b0fe9e82185",
                 "gtsrb/GTSRB_Final_Test_Images.zip", (files[1],), "zip", "gtsrb"),
        Resource((base + "GTSRB_Final_Test_GT.zip",), "fe31e9c9270bbcd7b84b7f21a9d9d9e5",
                 "gtsrb/GTSRB_Final_Test_GT.zip", (files[2],), "zip", "gtsrb"),
    )
    info = DatasetInfo("gtsrb", (3, 32, 32), 43, (0.3403, 0.3121, 0.3214),
                       (0.2724, 0.2608, 0.2669), names.GTSRB,
                       "GTSRB traffic signs: 39,209 train / 12,630 test RGB images of 43 "
                       "classes, resized to 32x32; classes=k keeps the first k classes.", files)
    return DatasetSpec(info, read_gtsrb, res, class_subsets=True)


_SPECS: dict[str, DatasetSpec] = {s.info.name: s for s in (
    DatasetSpec(DatasetInfo(
        "digits", (1, 8, 8), 10, (0.3055,), (0.3760,), names.DIGITS,
        "scikit-learn's bundled 8x8 handwritten digits (16 grey levels): a fixed stratified "
        "split of 1,437 train / 360 test images; works offline.", ()),
        read_digits, pixel_max=16.0),
    _idx_spec("mnist", "MNIST",
              ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"),
              ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
               "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
              0.1307, 0.3081, names.DIGITS,
              "MNIST handwritten digits: 60,000 train / 10,000 test 28x28 greyscale images."),
    _idx_spec("fashion-mnist", "FashionMNIST",
              ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
              ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
               "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
              0.2860, 0.3530, names.FASHION_MNIST,
              "Fashion-MNIST (Zalando): 60,000 train / 10,000 test 28x28 greyscale images of "
              "clothing in 10 classes."),
    _idx_spec("kmnist", "KMNIST", ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
              ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
               "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
              0.1918, 0.3483, names.KMNIST,
              "Kuzushiji-MNIST: 60,000 train / 10,000 test 28x28 greyscale cursive Japanese "
              "(hiragana) characters in 10 classes."),
    _emnist_letters(),
    _cifar("cifar10", CIFAR10_FOLDER, CIFAR10_TRAIN + CIFAR10_TEST,
           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
           "c58f30108f718f92721af3b95e74349a", (0.4914, 0.4822, 0.4465),
           (0.2023, 0.1994, 0.2010), names.CIFAR10, read_cifar10,
           "CIFAR-10: 50,000 train / 10,000 test 32x32 RGB images in 10 classes."),
    _cifar("cifar100", CIFAR100_FOLDER, CIFAR100_TRAIN + CIFAR100_TEST,
           "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
           "eb9058c3a382ffc7106e4002c42a8d85", (0.5071, 0.4865, 0.4409),
           (0.2673, 0.2564, 0.2762), names.CIFAR100, read_cifar100,
           "CIFAR-100: 50,000 train / 10,000 test 32x32 RGB images in 100 fine classes."),
    _svhn(),
    _gtsrb(),
)}


def canonical_name(name: str) -> str | None:
    """The registered name for ``name`` (case and ``_``/``-`` insensitive), else ``None``."""
    key = str(name).strip().lower().replace("_", "-")
    return key if key in _SPECS else None


def names_list() -> list[str]:
    """Registered dataset names, in registry order."""
    return list(_SPECS)


def spec_for(name: str) -> DatasetSpec:
    """The spec of a canonical dataset name."""
    return _SPECS[name]


def with_classes(info: DatasetInfo, classes: int) -> DatasetInfo:
    """``info`` restricted to its first ``classes`` classes."""
    if classes == info.num_classes:
        return info
    return replace(info, num_classes=classes, class_names=info.class_names[:classes],
                   description=f"{info.description} (first {classes} classes)")
