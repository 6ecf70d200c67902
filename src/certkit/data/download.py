"""Checksum-verified downloads of the canonical dataset files (the URLs torchvision uses).

Each :class:`Resource` is fetched into the data directory through a temporary file that is
renamed into place only after its MD5 matches, so an interrupted or tampered download never
leaves a file that looks complete. Archives are unpacked into a temporary folder beside the
target (refusing members that would land outside it) and then moved into place.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CertkitError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One file to download: mirrors, MD5, where it goes, and how to unpack it.

    ``dest`` is the download's path relative to the data directory. ``extract`` is
    ``"tar"`` or ``"zip"`` to unpack it into ``into`` (relative) and delete the archive;
    ``members`` limits a zip to those members, each mapped to its own relative path.
    ``provides`` are the dataset files it yields (the download is skipped when all exist).
    """

    urls: tuple[str, ...]
    md5: str
    dest: str
    provides: tuple[str, ...]
    extract: str | None = None
    into: str = ""
    members: tuple[tuple[str, str], ...] = ()


def _open_url(url: str) -> BinaryIO:
    """Open ``url`` for reading (replaced in tests)."""
    return urllib.request.urlopen(url, timeout=60)


def md5_file(path: Path) -> str:
    """Hex MD5 of a file's content."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(urls: tuple[str, ...], md5: str, dest: Path,
          opener: Callable[[str], BinaryIO] | None = None) -> Path:
    """Download the first mirror whose content has MD5 ``md5`` to ``dest``, atomically."""
    if dest.is_file() and md5_file(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            log.info("downloading %s", url)
            with os.fdopen(fd, "wb") as out, (opener or _open_url)(url) as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != md5:
                problems.append(f"{url}: MD5 {digest.hexdigest()} != expected {md5}")
                continue
            os.replace(tmp, dest)
            return dest
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, cut-offs
            problems.append(f"{url}: {err}")
        finally:
            tmp.unlink(missing_ok=True)
    raise CertkitError(f"could not download {dest.name}: " + "; ".join(problems))


def _safe_target(base: Path, member: str) -> Path:
    target = (base / member).resolve()
    if not target.is_relative_to(base.resolve()):
        raise CertkitError(f"refusing archive member outside the target folder: {member!r}")
    return target


def _move_into(src: Path, dst: Path) -> None:
    """Move the tree ``src`` into ``dst``, merging folders and replacing files."""
    if dst.is_dir() and src.is_dir() and not src.is_symlink():
        for child in src.iterdir():
            _move_into(child, dst / child.name)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def _unpack(archive: Path, res: Resource, root: Path) -> None:
    into = root / res.into
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".certkit-unpack-", dir=into) as tmp_name:
        tmp = Path(tmp_name)
        try:
            if res.extract == "tar":
                with tarfile.open(archive) as tar:
                    for member in tar.getmembers():
                        _safe_target(tmp, member.name)
                        if not (member.isfile() or member.isdir()):
                            raise CertkitError(f"refusing non-regular archive member "
                                               f"{member.name!r} in {archive.name}")
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                        tar.extractall(tmp, filter="data")
                    else:  # members were checked above
                        tar.extractall(tmp)
            elif res.extract == "zip":
                with zipfile.ZipFile(archive) as zf:
                    if res.members:
                        for member, rel in res.members:
                            target = _safe_target(root, rel)
                            target.parent.mkdir(parents=True, exist_ok=True)
                            part = tmp / Path(rel).name
                            with zf.open(member) as src, open(part, "wb") as out:
                                shutil.copyfileobj(src, out, CHUNK)
                            os.replace(part, target)
                        return
                    for name in zf.namelist():
                        _safe_target(tmp, name)
                    zf.extractall(tmp)
            else:
                raise CertkitError(f"unknown archive kind {res.extract!r}")
        except (tarfile.TarError, zipfile.BadZipFile, KeyError, EOFError) as err:
            raise CertkitError(f"cannot unpack {archive}: {err}") from err
        for child in tmp.iterdir():
            _move_into(child, into / child.name)


def download(resources: tuple[Resource, ...], root: Path,
             present: Callable[[str], bool]) -> None:
    """Fetch (and unpack) every resource whose ``provides`` are not all ``present``."""
    for res in resources:
        if all(present(rel) for rel in res.provides):
            continue
        archive = fetch(res.urls, res.md5, root / res.dest)
        if res.extract:
            _unpack(archive, res, root)
            archive.unlink(missing_ok=True)
