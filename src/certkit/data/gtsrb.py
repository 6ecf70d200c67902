"""GTSRB (German Traffic Sign Recognition Benchmark) from torchvision's folder layout.

``<root>/gtsrb/GTSRB/Training/<class:05d>/*.ppm`` holds the training images, and
``<root>/gtsrb/GTSRB/Final_Test/Images/*.ppm`` with ``<root>/gtsrb/GT-final_test.csv``
(``Filename;...;ClassId``, semicolon separated) the test images. Every image is resized to
32x32 with antialiased bilinear interpolation (as PIL's ``resize`` with ``BILINEAR``) and
rounded back to uint8. The PPM (binary netpbm) decoder is built in; no imaging library needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import RawData, RawSplit, corrupt

NUM_CLASSES = 43
SIZE = 32
TRAIN_DIR = "gtsrb/GTSRB/Training"
TEST_DIR = "gtsrb/GTSRB/Final_Test/Images"
TEST_CSV = "gtsrb/GT-final_test.csv"
_WHITESPACE = b" \t\n\r\v\f"


def _header_tokens(data: bytes, where: Path | str) -> tuple[list[bytes], int]:
    """The four netpbm header tokens and the offset of the pixel data."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        if pos >= len(data):
            raise corrupt(where, "truncated PPM header")
        byte = data[pos:pos + 1]
        if byte in _WHITESPACE:
            pos += 1
        elif byte == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
        else:
            start = pos
            while pos < len(data) and data[pos:pos + 1] not in _WHITESPACE \
                    and data[pos:pos + 1] != b"#":
                pos += 1
            tokens.append(data[start:pos])
    if pos >= len(data) or data[pos:pos + 1] not in _WHITESPACE:
        raise corrupt(where, "truncated PPM header")
    return tokens, pos + 1


def parse_ppm(data: bytes, where: Path | str = "<bytes>") -> np.ndarray:
    """Decode a binary PPM (P6, maxval <= 255) into an (H, W, 3) uint8 array."""
    if data[:2] != b"P6":
        raise corrupt(where, f"not a binary PPM image (magic {data[:2]!r})")
    tokens, offset = _header_tokens(data, where)
    try:
        width, height, maxval = (int(t) for t in tokens[1:])
    except ValueError:
        raise corrupt(where, f"bad PPM header {b' '.join(tokens)!r}") from None
    if width < 1 or height < 1 or not 1 <= maxval <= 255:
        raise corrupt(where, f"unsupported PPM size {width}x{height} or maxval {maxval}")
    n = width * height * 3
    if len(data) - offset < n:
        raise corrupt(where, f"truncated PPM data ({len(data) - offset} of {n} bytes)")
    pixels = np.frombuffer(data, np.uint8, count=n, offset=offset).reshape(height, width, 3)
    if maxval != 255:
        pixels = np.rint(pixels.astype(np.float64) * (255.0 / maxval)).clip(0, 255)
        pixels = pixels.astype(np.uint8)
    return pixels


def resize(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(H, W, C) uint8 -> (C, size, size) uint8, antialiased bilinear like PIL."""
    chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    if chw.shape[1:] == (size, size):
        return chw.numpy().copy()
    out = F.interpolate(chw[None].to(torch.float32), size=(size, size), mode="bilinear",
                        align_corners=False, antialias=True)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8).numpy()


def _load_images(paths: list[Path]) -> np.ndarray:
    images = np.empty((len(paths), 3, SIZE, SIZE), np.uint8)
    for i, path in enumerate(paths):
        images[i] = resize(parse_ppm(path.read_bytes(), path))
    return images


def _train_files(folder: Path, classes: int) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not (len(sub.name) == 5 and sub.name.isdigit()) or int(sub.name) >= NUM_CLASSES:
            raise corrupt(sub, f"expected class folders 00000..{NUM_CLASSES - 1:05d}")
        label = int(sub.name)
        if label < classes:
            files = sorted(sub.glob("*.ppm"))
            paths += files
            labels += [label] * len(files)
    return paths, labels


def _test_files(folder: Path, csv_path: Path, classes: int) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=";", skipinitialspace=True)
        if not reader.fieldnames or not {"Filename", "ClassId"} <= set(reader.fieldnames):
            raise corrupt(csv_path, "expected a semicolon CSV with columns Filename and ClassId")
        for line, row in enumerate(reader, start=2):
            name, label = (row.get("Filename") or "").strip(), (row.get("ClassId") or "").strip()
            if not name or Path(name).name != name or not label.isdigit() \
                    or int(label) >= NUM_CLASSES:
                raise corrupt(csv_path, f"line {line}: bad row {row}")
            if int(label) < classes:
                paths.append(folder / name)
                labels.append(int(label))
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise corrupt(csv_path, f"{len(missing)} listed test images are missing from {folder} "
                                f"(first: {missing[0]})")
    return paths, labels


def read_gtsrb(root: Path, classes: int | None = None) -> RawData:
    """GTSRB train and test images resized to 32x32; only labels < ``classes`` if given."""
    keep = NUM_CLASSES if classes is None else classes
    train_paths, train_labels = _train_files(root / TRAIN_DIR, keep)
    test_paths, test_labels = _test_files(root / TEST_DIR, root / TEST_CSV, keep)
    return RawData(
        RawSplit(_load_images(train_paths), np.asarray(train_labels, np.int64)),
        RawSplit(_load_images(test_paths), np.asarray(test_labels, np.int64)),
    )
