"""Writers of tiny dataset files in each on-disk format, for the dataset tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """Write ``array`` as an IDX file (``path`` + ``.gz`` when ``gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def random_split(rng: np.random.Generator, n: int, shape: tuple[int, ...],
                 classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and shuffled labels with every class present (if n >= classes)."""
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    return images, labels.astype(np.uint8)


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes pickles the way Python 2's cPickle wrote the official CIFAR files.

    ``bytes`` and ``str`` become Python 2 ``str`` opcodes (read back as bytes with
    encoding="bytes"),
    and numpy's reconstructor is referenced under its Python 2 era module name.
    """

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_py2_text(self, obj: str) -> None:
        self.save_py2_str(obj.encode("latin1"))

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_text

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", "")
        if module == "numpy._core.multiarray" or module == "numpy.core.multiarray":
            qual = name or obj.__qualname__
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n" + qual.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: Any) -> bytes:
    """``obj`` pickled at protocol 2 in the Python 2 style of the CIFAR batches."""
    import io

    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_batch(images: np.ndarray, labels: np.ndarray, label_key: str) -> dict[bytes, Any]:
    """A CIFAR batch dict with bytes keys, as in the official files."""
    return {b"batch_label": b"testing batch 1 of 1",
            b"data": np.ascontiguousarray(images.reshape(len(images), -1)),
            label_key.encode(): [int(v) for v in labels],
            b"filenames": [f"img_{i}.png".encode() for i in range(len(images))]}


def write_ppm(path: Path, image: np.ndarray, comment: bool = False) -> None:
    """Write an (H, W, 3) uint8 image as a binary PPM (P6)."""
    h, w, _ = image.shape
    header = b"P6\n" + (b"# made by a test\n" if comment else b"") + f"{w} {h}\n255\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + np.ascontiguousarray(image, np.uint8).tobytes())
