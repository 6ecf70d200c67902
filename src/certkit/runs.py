"""Run directories: config, metrics JSONL, and checkpoints as safetensors + JSON.

Layout of a run directory::

    config.yaml         the full training configuration
    metrics.jsonl       one JSON object per epoch (append-only)
    model.safetensors   final (or latest) weights
    model.json          architecture, dataset, normalisation, method, eps, version, sha256
    checkpoint/         state.safetensors + state.json: optimizer and RNG state for --resume

Loading never unpickles: tensors come from safetensors, everything else from JSON. Every
file is written atomically (temporary file + rename), and ``model.json`` records the
SHA-256 of ``model.safetensors``, so a torn or foreign file is detected, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from .errors import CertkitError

FORMAT = "certkit-run"
FORMAT_VERSION = 1


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as pretty JSON."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def append_jsonl(path: Path, row: Mapping[str, Any]) -> None:
    """Append one JSON object as a line and flush it to disk."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete rows of a JSONL file (a torn last line is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def tensors_to_bytes(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """Serialise tensors with safetensors (contiguous CPU copies)."""
    return st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def tensors_from_bytes(data: bytes, what: str) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; a corrupt file gives a CertkitError naming ``what``."""
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise CertkitError(f"{what} is not a valid safetensors file ({err})") from err


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise CertkitError(f"{what} not found: {path}")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CertkitError(f"{what} is not valid JSON: {path} ({err})") from err
    if not isinstance(obj, dict):
        raise CertkitError(f"{what} is not a JSON object: {path}")
    return obj


def save_model(run_dir: Path, model: nn.Module, meta: Mapping[str, Any]) -> None:
    """Write ``model.safetensors`` then ``model.json`` (which names the weights' hash)."""
    data = tensors_to_bytes(model.state_dict())
    write_bytes_atomic(run_dir / "model.safetensors", data)
    full = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION,
            "weights_sha256": sha256(data)}
    write_json_atomic(run_dir / "model.json", full)


def read_model_meta(run_dir: Path) -> dict[str, Any]:
    """Read and validate ``model.json`` of a run directory."""
    meta = _read_json(run_dir / "model.json", "model metadata")
    if meta.get("format") != FORMAT:
        raise CertkitError(f"{run_dir / 'model.json'} is not a certkit checkpoint")
    if int(meta.get("format_version", -1)) > FORMAT_VERSION:
        raise CertkitError(f"checkpoint format {meta.get('format_version')} is newer than "
                           f"this certkit understands ({FORMAT_VERSION}); upgrade certkit")
    for key in ("architecture", "input_shape", "num_classes", "mean", "std", "weights_sha256"):
        if key not in meta:
            raise CertkitError(f"{run_dir / 'model.json'} lacks the field {key!r}")
    return meta


def load_weights(run_dir: Path, meta: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` and check it against the hash in ``model.json``."""
    path = run_dir / "model.safetensors"
    if not path.is_file():
        raise CertkitError(f"weights not found: {path}")
    data = path.read_bytes()
    if sha256(data) != meta["weights_sha256"]:
        raise CertkitError(f"{path} does not match model.json (corrupt or from another run)")
    return tensors_from_bytes(data, str(path))


def build_from_meta(meta: Mapping[str, Any]) -> nn.Sequential:
    """Construct the (untrained) architecture that ``meta`` describes."""
    from .models import build_model

    return build_model(meta["architecture"], tuple(meta["input_shape"]), int(meta["num_classes"]),
                       meta["mean"], meta["std"])


@dataclass
class Run:
    """A trained network opened from its run directory (see :func:`load_run`)."""

    path: Path
    model: nn.Sequential
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        """Name of the dataset the model was trained on."""
        return str(self.meta.get("dataset", {}).get("name", ""))

    def load_data(self, data_dir: str | Path | None = None, **overrides: Any) -> Any:
        """The run's dataset splits (same subset options as training, unless overridden)."""
        from .data import load_dataset

        opts = {**self.meta.get("dataset", {}), **overrides}
        if data_dir is not None:
            opts["data_dir"] = str(data_dir)
        name = opts.pop("name")
        return load_dataset(name, **opts)


def load_run(run_dir: str | Path) -> Run:
    """Open a run directory: the model (eval mode, on CPU) and its metadata.

    Raises :class:`~certkit.errors.CertkitError` for a missing, corrupt or foreign checkpoint.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise CertkitError(f"run directory not found: {path}")
    meta = read_model_meta(path)
    model = build_from_meta(meta)
    weights = load_weights(path, meta)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CertkitError(f"{path / 'model.safetensors'} does not fit {meta['architecture']}: "
                           f"{first}") from err
    model.eval()
    return Run(path=path, model=model, meta=meta)
