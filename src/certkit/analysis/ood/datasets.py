"""OOD test sets: other datasets of the same input shape, and synthetic ones.

=============== ===============================================================
uniform-noise   i.i.d. uniform pixels in [0, 1] (alias: noise)
gaussian-noise  N(0.5, 0.25^2) pixels, clipped to [0, 1]
permuted        ID test images with their pixels shuffled (one fixed permutation
                per image): same intensity histogram, no shape
constant        constant images, one uniform gray level per image
<dataset>       the test split of any registered dataset with the same input
                shape (e.g. fashion-mnist for MNIST, mnist for Fashion-MNIST)
=============== ===============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ...errors import CertkitError

Synth = Callable[[Tensor, int, torch.Generator], Tensor]


def _uniform(ref: Tensor, n: int, g: torch.Generator) -> Tensor:
    return torch.rand((n, *ref.shape[1:]), generator=g)


def _gaussian(ref: Tensor, n: int, g: torch.Generator) -> Tensor:
    return (0.5 + 0.25 * torch.randn((n, *ref.shape[1:]), generator=g)).clamp(0, 1)


def _permuted(ref: Tensor, n: int, g: torch.Generator) -> Tensor:
    src = ref[torch.arange(n) % ref.shape[0]].flatten(1)
    keys = torch.rand(src.shape, generator=g).argsort(dim=1)
    return src.gather(1, keys).view(n, *ref.shape[1:])


def _constant(ref: Tensor, n: int, g: torch.Generator) -> Tensor:
    level = torch.rand(n, generator=g)
    return level.view(-1, *([1] * (ref.dim() - 1))).expand(n, *ref.shape[1:]).clone()


SYNTHETIC: dict[str, Synth] = {"uniform-noise": _uniform, "gaussian-noise": _gaussian,
                               "permuted": _permuted, "constant": _constant}
ALIASES = {"noise": "uniform-noise", "uniform": "uniform-noise", "gaussian": "gaussian-noise"}


def ood_names() -> list[str]:
    """Synthetic OOD set names (any same-shape dataset name is accepted too)."""
    return list(SYNTHETIC)


def ood_set(name: str, id_test: Tensor, n: int | None = None, *, seed: int = 0,
            data_dir: str | Path | None = None) -> Tensor:
    """``n`` OOD inputs (default: as many as ``id_test``) shaped like ``id_test``."""
    name = ALIASES.get(name, name)
    count = id_test.shape[0] if n is None else n
    if count < 1:
        raise CertkitError(f"the OOD set needs n >= 1, got {count}")
    if name in SYNTHETIC:
        g = torch.Generator().manual_seed(seed)
        return SYNTHETIC[name](id_test.to(torch.float32).cpu(), count, g)
    from ...data import dataset_names, load_dataset

    if name not in dataset_names():
        raise CertkitError(f"unknown OOD set {name!r}; valid: "
                           f"{', '.join([*SYNTHETIC, *ALIASES, *dataset_names()])}")
    x = load_dataset(name, data_dir=data_dir).test.x
    if tuple(x.shape[1:]) != tuple(id_test.shape[1:]):
        raise CertkitError(f"OOD set {name} has inputs {tuple(x.shape[1:])}, the model "
                           f"expects {tuple(id_test.shape[1:])}")
    return x[:count]
