"""Clean accuracy of a trained run on its own test set or on another dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import CertkitError
from .models.predict import accuracy
from .runs import load_run

SPLITS = ("test", "train", "val")


def evaluate(
    run: str | Path,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    n: int | None = None,
    batch_size: int = 1024,
    device: str = "cpu",
) -> dict[str, Any]:
    """Clean accuracy of the network in ``run`` on ``split`` of its dataset (or ``data``).

    ``n`` limits the evaluation to the first ``n`` examples of the split.
    """
    from .data import load_dataset

    if split not in SPLITS:
        raise CertkitError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if n is not None and n < 1:
        raise CertkitError(f"n must be >= 1, got {n}")
    r = load_run(run)
    if data is None or data == r.dataset:
        splits = r.load_data(data_dir)
        name = r.dataset
    else:
        splits = load_dataset(data, data_dir=data_dir)
        name = data
        if tuple(splits.info.input_shape) != tuple(r.meta["input_shape"]):
            raise CertkitError(f"dataset {data!r} has inputs of shape "
                               f"{tuple(splits.info.input_shape)}, the model expects "
                               f"{tuple(r.meta['input_shape'])}")
    pair = getattr(splits, split)
    if pair is None:
        raise CertkitError(f"the run has no {split!r} split (train with --val-size N)")
    x, y = pair.x[:n], pair.y[:n]
    model = r.model.to(device)
    acc = accuracy(model, x.to(device), y.to(device), batch_size)
    return {"run": str(r.path), "dataset": name, "split": split, "n": int(x.shape[0]),
            "accuracy": acc}
