"""Deterministic, stratified subsets that are the same on every machine and numpy version.

Randomness comes from a SplitMix64 hash of (seed, stream, index) rather than numpy's RNG,
whose streams are not guaranteed across versions. :func:`stratified_order` orders examples
so that every prefix holds each class in proportion to its frequency (up to rounding), so
subsets are both stratified and nested: a subset of 100 lies inside the subset of 1000.
"""

from __future__ import annotations

import operator
import zlib

import numpy as np

from ..errors import CertkitError

_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_u64(seed: int, stream: str, index: np.ndarray) -> np.ndarray:
    """A uint64 pseudo-random value for each index, fixed by ``seed`` and ``stream``."""
    key = np.array([seed & _MASK, zlib.crc32(stream.encode())], dtype=np.uint64)
    base = _mix(_mix(key[:1]) ^ key[1:])
    return _mix(np.asarray(index, dtype=np.uint64) ^ base)


def stratified_order(labels: np.ndarray, seed: int, stream: str) -> np.ndarray:
    """A permutation of ``range(len(labels))`` whose every prefix is class-stratified.

    Within each class the order is a seeded shuffle; the classes are interleaved by sorting
    on ``(rank + 0.5) / n_c`` (ties broken by the hash). Every prefix is then the
    Sainte-Lague/Webster apportionment of its size to the classes: proportional to class
    frequency up to rounding, and growing one example at a time (so subsets are nested).
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    h = hash_u64(seed, stream, np.arange(n))
    by_class = np.lexsort((h, labels))
    _, starts, counts = np.unique(labels[by_class], return_index=True, return_counts=True)
    rank = np.arange(n) - np.repeat(starts, counts)
    key = (rank + 0.5) / np.repeat(counts, counts)
    return by_class[np.lexsort((h[by_class], key))]


def check_size(name: str, value: object, low: int, high: int, what: str) -> int:
    """``value`` as an int in ``low..high``, else a CertkitError explaining the limit."""
    if isinstance(value, bool):
        raise CertkitError(f"{name} must be an integer, got {value!r}")
    try:
        size = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise CertkitError(f"{name} must be an integer, got {value!r}") from None
    if size < low:
        raise CertkitError(f"{name} must be at least {low}, got {size}")
    if size > high:
        raise CertkitError(f"{name}={size} is larger than the {high} {what}")
    return size


def split_train(labels: np.ndarray, train_size: int | None, val_size: int,
                seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Indices of (train, val) in the full training set, each increasing; ``None`` = all/none.

    The validation set is the first ``val_size`` examples of a stratified order (so it does
    not depend on ``train_size``); the training subset comes from the rest of that order.
    """
    if val_size == 0 and train_size is None:
        return None, None
    order = stratified_order(labels, seed, "train")
    val = np.sort(order[:val_size]) if val_size else None
    rest = order[val_size:]
    train = rest if train_size is None else rest[:train_size]
    return np.sort(train), val


def subset(labels: np.ndarray, size: int | None, seed: int, stream: str) -> np.ndarray | None:
    """Indices of a stratified subset of ``size`` examples (increasing); ``None`` = all."""
    if size is None or size == labels.shape[0]:
        return None
    return np.sort(stratified_order(labels, seed, stream)[:size])
