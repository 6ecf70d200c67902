"""Downloads: MD5 verification, atomic placement, mirrors and archive unpacking (no network)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from datafiles import MNIST_NAMES, idx_bytes, random_split

from certkit.data import dataset_status, load_dataset
from certkit.data import registry as registry_mod
from certkit.data.download import Resource, download, fetch
from certkit.data.registry import spec_for
from certkit.errors import CertkitError


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _serve(tmp_path: Path, name: str, data: bytes) -> str:
    src = tmp_path / "server" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    return src.as_uri()


def test_fetch_verifies_and_places_file(tmp_path: Path) -> None:
    url = _serve(tmp_path, "a.bin", b"hello" * 1000)
    dest = tmp_path / "data" / "sub" / "a.bin"
    assert fetch((url,), _md5(b"hello" * 1000), dest) == dest
    assert dest.read_bytes() == b"hello" * 1000
    assert fetch(("file:///nonexistent",), _md5(b"hello" * 1000), dest) == dest  # cached


def test_md5_mismatch_leaves_nothing(tmp_path: Path) -> None:
    url = _serve(tmp_path, "a.bin", b"tampered")
    dest = tmp_path / "data" / "a.bin"
    with pytest.raises(CertkitError, match="MD5 .* != expected"):
        fetch((url,), _md5(b"original"), dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary file left either


def test_falls_back_to_next_mirror(tmp_path: Path) -> None:
    bad = _serve(tmp_path, "bad.bin", b"wrong")
    good = _serve(tmp_path, "good.bin", b"right")
    dest = tmp_path / "data" / "x.bin"
    fetch(("file:///missing/x.bin", bad, good), _md5(b"right"), dest)
    assert dest.read_bytes() == b"right"
    with pytest.raises(CertkitError) as err:
        fetch(("file:///missing/x.bin", bad), _md5(b"other"), tmp_path / "data" / "y.bin")
    assert "missing/x.bin" in str(err.value) and "bad.bin" in str(err.value)


def test_interrupted_download_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            raise OSError("connection reset")

    dest = tmp_path / "a.bin"
    with pytest.raises(CertkitError, match="connection reset"):
        fetch(("http://example.invalid/a",), _md5(b"x"), dest, opener=lambda url: Broken())
    assert list(tmp_path.iterdir()) == []


def _fake_mnist_resources(tmp_path: Path, corrupt_md5: bool = False) -> tuple[Resource, ...]:
    rng = np.random.default_rng(0)
    xtr, ytr = random_split(rng, 30, (28, 28), 10)
    xte, yte = random_split(rng, 10, (28, 28), 10)
    out = []
    for name, arr in zip(MNIST_NAMES, (xtr, ytr, xte, yte), strict=True):
        data = gzip.compress(idx_bytes(arr), mtime=0)
        rel = f"MNIST/raw/{name}.gz"
        md5 = "0" * 32 if corrupt_md5 and "t10k-labels" in name else _md5(data)
        out.append(Resource((_serve(tmp_path, name + ".gz", data),), md5, rel, (rel,)))
    return tuple(out)


def test_load_dataset_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for("mnist")
    fake = dataclasses.replace(spec, resources=_fake_mnist_resources(tmp_path))
    monkeypatch.setitem(registry_mod._SPECS, "mnist", fake)
    root = tmp_path / "data"
    assert not dataset_status("mnist", root)[0]
    s = load_dataset("mnist", data_dir=root, download=True)
    assert s.train.x.shape == (30, 1, 28, 28) and s.test.x.shape == (10, 1, 28, 28)
    assert dataset_status("mnist", root)[0]


def test_load_dataset_download_bad_checksum(tmp_path: Path, monkeypatch) -> None:
    spec = spec_for("mnist")
    fake = dataclasses.replace(spec, resources=_fake_mnist_resources(tmp_path, True))
    monkeypatch.setitem(registry_mod._SPECS, "mnist", fake)
    root = tmp_path / "data"
    with pytest.raises(CertkitError, match="t10k-labels-idx1-ubyte.gz.*MD5"):
        load_dataset("mnist", data_dir=root, download=True)
    raw = root / "MNIST" / "raw"
    assert not (raw / "t10k-labels-idx1-ubyte.gz").exists()
    assert sorted(p.name for p in raw.iterdir()) == [  # verified files kept, no partials
        "t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_tar_unpacked_and_archive_removed(tmp_path: Path) -> None:
    data = _tar_bytes({"folder/a": b"A", "folder/b": b"B"})
    res = Resource((_serve(tmp_path, "x.tar.gz", data),), _md5(data), "x.tar.gz",
                   ("folder/a", "folder/b"), extract="tar")
    root = tmp_path / "data"
    root.mkdir()
    download((res,), root, lambda rel: (root / rel).exists())
    assert (root / "folder" / "a").read_bytes() == b"A"
    assert sorted(p.name for p in root.iterdir()) == ["folder"]
    download((res,), root, lambda rel: (root / rel).exists())  # present: nothing fetched


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_path_traversal_refused(tmp_path: Path, kind: str) -> None:
    members = {"ok": b"1", "../escape": b"2"}
    data = _tar_bytes(members) if kind == "tar" else _zip_bytes(members)
    res = Resource((_serve(tmp_path, "evil", data),), _md5(data), "evil", ("ok",),
                   extract=kind, into="inner")
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(CertkitError, match="outside the target folder"):
        download((res,), root, lambda rel: False)
    assert not (root / "escape").exists() and not (root / "inner" / "ok").exists()


def test_zip_members_merge_into_existing_folders(tmp_path: Path) -> None:
    first = _zip_bytes({"GTSRB/Training/00000/a.ppm": b"t"})
    second = _zip_bytes({"GTSRB/Final_Test/Images/b.ppm": b"u"})
    picked = _zip_bytes({"gzip/keep.gz": b"k", "gzip/other.gz": b"o"})
    resources = (
        Resource((_serve(tmp_path, "1.zip", first),), _md5(first), "g/1.zip", ("g/x",), "zip",
                 "g"),
        Resource((_serve(tmp_path, "2.zip", second),), _md5(second), "g/2.zip", ("g/y",),
                 "zip", "g"),
        Resource((_serve(tmp_path, "3.zip", picked),), _md5(picked), "E/raw/3.zip", ("z",),
                 "zip", members=(("gzip/keep.gz", "E/raw/keep.gz"),)),
    )
    root = tmp_path / "data"
    root.mkdir()
    download(resources, root, lambda rel: False)
    assert (root / "g/GTSRB/Training/00000/a.ppm").read_bytes() == b"t"
    assert (root / "g/GTSRB/Final_Test/Images/b.ppm").read_bytes() == b"u"
    assert sorted(p.name for p in (root / "g").iterdir()) == ["GTSRB"]
    assert sorted(p.name for p in (root / "E/raw").iterdir()) == ["keep.gz"]


def test_registry_resources_are_well_formed() -> None:
    for name in ("mnist", "fashion-mnist", "kmnist", "emnist-letters", "cifar10", "cifar100",
                 "svhn", "gtsrb"):
        spec = spec_for(name)
        assert spec.resources, name
        provided = {rel for res in spec.resources for rel in res.provides}
        assert provided == set(spec.info.files), name
        for res in spec.resources:
            assert len(res.md5) == 32 and int(res.md5, 16) >= 0
            assert all(u.startswith(("https://", "http://")) for u in res.urls)
    assert spec_for("mnist").resources[0].urls[0].startswith(
        "https://ossci-datasets.s3.amazonaws.com/mnist/")
