"""GTSRB folders: PPM decoding, 32x32 resizing, the test CSV, and classes=k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import write_ppm

from certkit.data import get_info, load_dataset
from certkit.data.gtsrb import parse_ppm, resize
from certkit.errors import CertkitError

CSV_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"


def _write_gtsrb(root: Path, labels_train: list[int], labels_test: list[int],
                 size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Images of ``size`` x ``size``; returns the images in the order the reader yields."""
    rng = np.random.default_rng(seed)
    base = root / "gtsrb"
    train = []
    for label in sorted(labels_train):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        folder = base / "GTSRB" / "Training" / f"{label:05d}"
        write_ppm(folder / f"00000_{len(train):05d}.ppm", img, comment=len(train) % 2 == 0)
        (folder / f"GT-{label:05d}.csv").write_text(CSV_HEADER)
        train.append(img)
    test, rows = [], []
    for i, label in enumerate(labels_test):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        name = f"{i:05d}.ppm"
        write_ppm(base / "GTSRB" / "Final_Test" / "Images" / name, img)
        rows.append(f"{name};{size};{size};5;5;{size - 5};{size - 5};{label}\n")
        test.append(img)
    (base / "GT-final_test.csv").write_text(CSV_HEADER + "".join(rows))
    return {"train": np.stack(train), "test": np.stack(test)}


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).numpy()


def test_gtsrb_round_trip_32(tmp_path: Path) -> None:
    train_labels, test_labels = [0, 0, 1, 12, 42, 42], [42, 3, 0, 12]
    ref = _write_gtsrb(tmp_path, train_labels, test_labels)
    s = load_dataset("gtsrb", data_dir=tmp_path)
    assert s.info.num_classes == 43 and s.train.x.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(s.train.y.numpy(), sorted(train_labels))
    np.testing.assert_array_equal(s.test.y.numpy(), test_labels)  # CSV order
    np.testing.assert_array_equal(_u8(s.train.x), ref["train"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(_u8(s.test.x), ref["test"].transpose(0, 3, 1, 2))


def test_gtsrb_resizes_every_image(tmp_path: Path) -> None:
    _write_gtsrb(tmp_path, [0, 1], [1, 0], size=47)
    s = load_dataset("gtsrb", data_dir=tmp_path)
    assert s.train.x.shape == (2, 3, 32, 32) and s.test.x.shape == (2, 3, 32, 32)
    assert float(s.train.x.min()) >= 0.0 and float(s.train.x.max()) <= 1.0


def test_gtsrb_first_ten_classes(tmp_path: Path) -> None:
    _write_gtsrb(tmp_path, [0, 5, 9, 10, 20, 42], [10, 9, 0, 33])
    s = load_dataset("gtsrb", data_dir=tmp_path, classes=10)
    assert s.info.num_classes == 10 and len(s.info.class_names) == 10
    assert s.train.y.tolist() == [0, 5, 9] and s.test.y.tolist() == [9, 0]
    assert get_info("gtsrb", classes=10) == s.info
    with pytest.raises(CertkitError, match="classes"):
        load_dataset("gtsrb", data_dir=tmp_path, classes=44)
    with pytest.raises(CertkitError, match="classes"):
        get_info("gtsrb", classes=1)


def test_constant_image_resizes_to_constant() -> None:
    img = np.full((50, 61, 3), (10, 200, 255), np.uint8)
    out = resize(img)
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    assert (out[0] == 10).all() and (out[1] == 200).all() and (out[2] == 255).all()


def test_resize_matches_pillow() -> None:
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for h, w in ((15, 17), (40, 33), (120, 95), (250, 200), (32, 32)):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ours = resize(img).transpose(1, 2, 0).astype(int)
        theirs = np.asarray(pil.fromarray(img).resize((32, 32), pil.BILINEAR)).astype(int)
        assert np.abs(ours - theirs).max() <= 1, (h, w)  # PIL rounds in fixed point


def test_ppm_decoder_matches_pillow(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    img = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    path = tmp_path / "a.ppm"
    pil.fromarray(img).save(path)
    np.testing.assert_array_equal(parse_ppm(path.read_bytes()), img)


def test_ppm_header_variants() -> None:
    pixels = bytes(range(2 * 1 * 3))
    assert parse_ppm(b"P6 2 1 255\n" + pixels).tolist() == [[[0, 1, 2], [3, 4, 5]]]
    assert parse_ppm(b"P6\n#c\n2 #w\n1\n# maxval next\n255 " + pixels).shape == (1, 2, 3)
    scaled = parse_ppm(b"P6 1 1 15\n" + bytes([0, 15, 5]))
    assert scaled.tolist() == [[[0, 255, 85]]]


@pytest.mark.parametrize("data, match", [
    (b"P3 1 1 255\n0 0 0", "not a binary PPM"),
    (b"P6 2 2 255\n" + bytes(11), "truncated PPM data"),
    (b"P6 2 2", "truncated PPM header"),
    (b"P6 two 2 255\n", "bad PPM header"),
    (b"P6 2 2 65535\n" + bytes(24), "maxval"),
    (b"P6 0 2 255\n", "size"),
])
def test_bad_ppm(data: bytes, match: str) -> None:
    with pytest.raises(CertkitError, match=match):
        parse_ppm(data)


def test_bad_gtsrb_layouts(tmp_path: Path) -> None:
    _write_gtsrb(tmp_path, [0, 1], [1, 0])
    csv_path = tmp_path / "gtsrb" / "GT-final_test.csv"
    good_csv = csv_path.read_text()
    csv_path.write_text(good_csv + "99999.ppm;32;32;5;5;27;27;1\n")
    with pytest.raises(CertkitError, match="missing.*99999.ppm"):
        load_dataset("gtsrb", data_dir=tmp_path)
    csv_path.write_text(good_csv + "../../secret.ppm;32;32;5;5;27;27;1\n")
    with pytest.raises(CertkitError, match="bad row"):
        load_dataset("gtsrb", data_dir=tmp_path)
    csv_path.write_text("Filename,ClassId\n00000.ppm,1\n")
    with pytest.raises(CertkitError, match="Filename and ClassId"):
        load_dataset("gtsrb", data_dir=tmp_path)
    csv_path.write_text(good_csv)
    (tmp_path / "gtsrb" / "GTSRB" / "Training" / "junk").mkdir()
    with pytest.raises(CertkitError, match="class folders"):
        load_dataset("gtsrb", data_dir=tmp_path)


def test_missing_gtsrb_parts_named(tmp_path: Path) -> None:
    _write_gtsrb(tmp_path, [0, 1], [1, 0])
    (tmp_path / "gtsrb" / "GT-final_test.csv").unlink()
    with pytest.raises(CertkitError, match="missing gtsrb/GT-final_test.csv"):
        load_dataset("gtsrb", data_dir=tmp_path)
