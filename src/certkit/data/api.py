"""Public entry points: look up, check and load datasets by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CertkitError, choice_error
from .base import DatasetInfo, DatasetSplits, RawSplit, TensorPair, check_split, corrupt
from .base import default_data_dir as _default_data_dir
from .download import download as fetch_resources
from .registry import DatasetSpec, canonical_name, names_list, spec_for, with_classes
from .subsets import check_size, split_train, subset


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`, in registry order."""
    return names_list()


def _spec(name: str) -> DatasetSpec:
    key = canonical_name(name)
    if key is None:
        raise choice_error("dataset", name, names_list())
    return spec_for(key)


def _check_classes(spec: DatasetSpec, classes: int | None) -> int | None:
    full = spec.info.num_classes
    if classes is None:
        return None
    if spec.class_subsets:
        size = check_size("classes", classes, 2, full, f"classes of {spec.info.name}")
        return None if size == full else size
    if classes != full or isinstance(classes, bool):
        raise CertkitError(f"classes={classes!r} is not supported for {spec.info.name} "
                           f"(it has {full} classes; only gtsrb can keep its first k classes)")
    return None


def get_info(name: str, classes: int | None = None) -> DatasetInfo:
    """Metadata of dataset ``name`` (restricted to the first ``classes`` classes for gtsrb)."""
    spec = _spec(name)
    kept = _check_classes(spec, classes)
    return spec.info if kept is None else with_classes(spec.info, kept)


def _resolve_dir(data_dir: str | Path | None) -> Path:
    return _default_data_dir() if data_dir is None or str(data_dir) == "" \
        else Path(data_dir).expanduser()


def _present(spec: DatasetSpec, root: Path, rel: str) -> bool:
    path = root / rel
    if rel.endswith("/"):
        return path.is_dir() and any(path.iterdir())
    if spec.idx_files:
        base = path.with_name(path.name.removesuffix(".gz"))
        return base.is_file() or base.with_name(base.name + ".gz").is_file()
    return path.is_file()


def _missing(spec: DatasetSpec, root: Path) -> list[str]:
    return [rel for rel in spec.info.files if not _present(spec, root, rel)]


def _file_list(files: list[str] | tuple[str, ...]) -> str:
    """``a/x, a/y`` written as ``a/{x, y}`` when all files share one folder."""
    parents = {f.rstrip("/").rpartition("/")[0] for f in files}
    if len(files) > 1 and len(parents) == 1 and "" not in parents:
        parent = parents.pop()
        return f"{parent}/{{{', '.join(f[len(parent) + 1:] for f in files)}}}"
    return ", ".join(files)


def _missing_message(spec: DatasetSpec, root: Path, missing: list[str]) -> str:
    where = f"{root}" if root.is_dir() else f"{root} (directory does not exist)"
    gz = " (IDX files may be gzipped or not)" if spec.idx_files else ""
    which = "" if len(missing) == len(spec.info.files) else f"; missing {_file_list(missing)}"
    return (f"dataset {spec.info.name!r} not found in {where}: expected "
            f"{_file_list(spec.info.files)}{gz}{which}. Pass --download (download=True) to "
            f"fetch it, or point --data-dir (data_dir=...) or $CERTKIT_DATA at a directory "
            f"holding these files in torchvision's layout.")


def dataset_status(name: str, data_dir: str | Path | None = None) -> tuple[bool, str]:
    """``(available, message)``: whether the files of ``name`` are in ``data_dir``."""
    spec = _spec(name)
    root = _resolve_dir(data_dir)
    if not spec.info.files:
        return True, f"{spec.info.name}: bundled with scikit-learn (no files needed)"
    missing = _missing(spec, root)
    if missing:
        return False, _missing_message(spec, root, missing)
    return True, f"{spec.info.name}: found in {root} ({_file_list(spec.info.files)})"


def _tensors(split: RawSplit, idx: np.ndarray | None, pixel_max: float) -> TensorPair:
    images, labels = split if idx is None else (split.images[idx], split.labels[idx])
    x = torch.from_numpy(images.astype(np.float32))  # always a fresh, writable array
    x.div_(pixel_max)
    return TensorPair(x, torch.from_numpy(np.array(labels, dtype=np.int64)))


def _keep_classes(split: RawSplit, classes: int | None) -> RawSplit:
    if classes is None:
        return split
    keep = split.labels < classes
    return split if keep.all() else RawSplit(split.images[keep], split.labels[keep])


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    train_size: int | None = None,
    test_size: int | None = None,
    val_size: int = 0,
    classes: int | None = None,
    seed: int = 0,
) -> DatasetSplits:
    """Load dataset ``name`` fully into memory as float32 tensors in [0, 1].

    ``train_size`` / ``test_size`` take deterministic, class-stratified subsets fixed by
    ``seed`` (nested: a smaller size gives a subset of a larger one); ``val_size`` examples
    are split off the full training set before ``train_size`` is applied, so validation and
    training never overlap. ``classes=k`` keeps the first k classes (gtsrb only). With
    ``download=True`` missing files are fetched from the canonical URLs (MD5-verified).
    Raises :class:`CertkitError` for unknown names, missing or corrupt files and bad sizes.
    """
    spec = _spec(name)
    kept = _check_classes(spec, classes)
    info = spec.info if kept is None else with_classes(spec.info, kept)
    seed = check_size("seed", seed, -(1 << 63), (1 << 64) - 1, "allowed")
    root = _resolve_dir(data_dir)
    if spec.info.files and _missing(spec, root) and download:
        _download(spec, root)
    missing = _missing(spec, root) if spec.info.files else []
    if missing:
        raise CertkitError(_missing_message(spec, root, missing))

    raw = spec.read(root, kept)
    where = root / spec.info.files[0].split("/")[0] if spec.info.files else spec.info.name
    train = _keep_classes(check_split(raw.train, where, info.input_shape,
                                      spec.info.num_classes), kept)
    test = _keep_classes(check_split(raw.test, where, info.input_shape,
                                     spec.info.num_classes), kept)
    if len(train.labels) < 2 or len(test.labels) < 1:
        raise corrupt(where, f"too few examples ({len(train.labels)} train, "
                             f"{len(test.labels)} test)")

    n_train, n_test = len(train.labels), len(test.labels)
    val_n = check_size("val_size", val_size, 0, n_train - 1,
                       f"training examples of {info.name} (one must stay for training)")
    train_n = None if train_size is None else check_size(
        "train_size", train_size, 1, n_train - val_n,
        f"training examples of {info.name}" + (f" left after val_size={val_n}" if val_n else ""))
    test_n = None if test_size is None else check_size(
        "test_size", test_size, 1, n_test, f"test examples of {info.name}")

    train_idx, val_idx = split_train(train.labels, train_n, val_n, seed)
    test_idx = subset(test.labels, test_n, seed, "test")
    val = None if val_idx is None else _tensors(train, val_idx, spec.pixel_max)
    return DatasetSplits(_tensors(train, train_idx, spec.pixel_max), val,
                         _tensors(test, test_idx, spec.pixel_max), info)


def _download(spec: DatasetSpec, root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CertkitError(f"cannot create data directory {root}: {err}") from err
    fetch_resources(spec.resources, root, lambda rel: _present(spec, root, rel))
