"""IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), gzip-compressed or raw.

Layout as torchvision's: ``<root>/<Folder>/raw/<name>`` where each file may be stored as
``<name>`` or ``<name>.gz``. The format is a 4-byte magic number ``00 00 <type> <ndim>``,
``ndim`` big-endian uint32 sizes, then the data in C order.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .base import RawData, RawSplit, corrupt

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type code -> numpy dtype (multi-byte types are big-endian).
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_idx(folder: Path, name: str) -> Path | None:
    """The existing file for ``name`` in ``folder``: uncompressed first, then ``.gz``."""
    base = name.removesuffix(".gz")
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is a gzip file (sniffed by magic bytes)."""
    data = path.read_bytes()
    if not data:
        raise corrupt(path, "empty file")
    if data[:2] != _GZIP_MAGIC:
        if path.suffix == ".gz":
            raise corrupt(path, "not a gzip file")
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"bad gzip data ({err})") from err


def parse_idx(data: bytes, where: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array of the stored dtype (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise corrupt(where, f"bad IDX magic number {data[:4].hex() or '(empty)'}")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise corrupt(where, f"unknown IDX data type 0x{code:02x}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise corrupt(where, f"truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[code])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes in"
        raise corrupt(where, f"{what} IDX data: shape {shape} needs {expected} bytes, "
                             f"file has {len(data)}")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or gzip)."""
    return parse_idx(read_bytes(path), path)


def _read_pair(folder: Path, images_name: str, labels_name: str, transpose: bool,
               label_offset: int) -> RawSplit:
    paths = []
    for name in (images_name, labels_name):
        path = find_idx(folder, name)
        if path is None:  # the registry checks presence first; this is a race or a bug
            raise corrupt(folder / name, "file disappeared")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise corrupt(paths[0], f"expected uint8 images (N, H, W), found {images.dtype} "
                                f"{images.shape}")
    if labels.ndim != 1:
        raise corrupt(paths[1], f"expected labels (N,), found shape {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise corrupt(paths[1], f"{labels.shape[0]} labels for {images.shape[0]} images "
                                f"in {paths[0].name}")
    if transpose:  # EMNIST stores every image transposed (column-major)
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    labels = labels.astype(np.int64) - label_offset
    return RawSplit(images[:, None], labels)


def read_idx_dataset(root: Path, folder: str, files: tuple[str, str, str, str],
                     transpose: bool = False, label_offset: int = 0) -> RawData:
    """Read train and test splits from ``root/folder/raw``.

    ``files`` are the train images, train labels, test images and test labels names;
    ``transpose`` swaps height and width (EMNIST); ``label_offset`` is subtracted from labels.
    """
    raw = root / folder / "raw"
    train = _read_pair(raw, files[0], files[1], transpose, label_offset)
    test = _read_pair(raw, files[2], files[3], transpose, label_offset)
    return RawData(train, test)
