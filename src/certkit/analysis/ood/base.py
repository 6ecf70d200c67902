"""The OOD detector interface: ``det.fit(loader)``, then ``det(x)`` gives a score per sample.

Higher score = more out-of-distribution. ``fit`` takes the in-distribution training data as
an iterable of ``(x, y)`` batches, a ``(x, y)`` pair of tensors, or a bare tensor ``x``.
Class attributes carry the metadata that drives the registry, the docs table and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ...errors import CertkitError

Loader = Iterable[tuple[Tensor, Tensor]] | tuple[Tensor, Tensor] | Tensor


def iter_batches(data: Loader, batch_size: int = 256) -> Iterator[tuple[Tensor, Tensor | None]]:
    """``(x, y)`` batches (``y`` may be None) from a loader, a tensor pair, or a tensor."""
    if isinstance(data, Tensor):
        for s in range(0, data.shape[0], batch_size):
            yield data[s:s + batch_size], None
        return
    if (isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor)
            and isinstance(data[1], Tensor) and data[0].shape[0] == data[1].shape[0]
            and data[0].dim() > data[1].dim()):
        for s in range(0, data[0].shape[0], batch_size):
            yield data[0][s:s + batch_size], data[1][s:s + batch_size]
        return
    for item in data:
        if isinstance(item, Tensor):
            yield item, None
        elif isinstance(item, tuple | list) and len(item) >= 2:
            yield item[0], item[1]
        else:
            raise CertkitError("each batch must be a tensor or an (inputs, labels) pair")


class Detector:
    """Base class: subclasses set the metadata and implement :meth:`score`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    needs_fit: ClassVar[bool] = False
    needs_grad: ClassVar[bool] = False
    whole_batch: ClassVar[bool] = False  # score() takes any number of samples (it batches)

    def __init__(self, model: nn.Module, *, batch_size: int = 256) -> None:
        if not isinstance(model, nn.Module):
            raise CertkitError("the detector needs a torch.nn.Module")
        if batch_size < 1:
            raise CertkitError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.batch_size = model, batch_size
        self.fitted = not self.needs_fit

    def fit(self, data: Loader) -> Detector:
        """Fit on in-distribution data (a no-op for detectors that need none); returns self."""
        self.fitted = True
        return self

    def score(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores of one batch (higher = more OOD)."""
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        """Scores of ``x`` (any size; batched internally), float64 on the CPU."""
        if not self.fitted:
            raise CertkitError(f"the {self.name} detector must be fitted first: det.fit(data)")
        if not isinstance(x, Tensor) or x.dim() < 2:
            raise CertkitError("x must be a batch tensor (B, ...)")
        was_training = self.model.training
        self.model.eval()
        step = max(1, x.shape[0]) if self.whole_batch else self.batch_size
        try:
            out = [self.score(x[s:s + step]).detach().to(torch.float64).cpu()
                   for s in range(0, x.shape[0], step)]
        finally:
            self.model.train(was_training)
        return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)

    def settings(self) -> dict[str, Any]:
        """Hyper-parameters, for tables and reports."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


def logits(model: nn.Module, x: Tensor) -> Tensor:
    """The model's logits on ``x`` without gradients."""
    with torch.no_grad():
        return model(x)
