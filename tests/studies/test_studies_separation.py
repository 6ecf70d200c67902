"""Separation distances against brute force on small random sets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from certkit.analysis.separation import nearest_other_distances, separation
from certkit.errors import CertkitError


def _brute(q: torch.Tensor, yq: torch.Tensor, r: torch.Tensor, yr: torch.Tensor, norm: str,
           same: bool) -> torch.Tensor:
    a, b = q.flatten(1).double(), r.flatten(1).double()
    d = torch.cdist(a, b, p=math.inf if norm == "linf" else 2.0,
                    compute_mode="donot_use_mm_for_euclid_dist")
    d[yq[:, None] == yr[None, :]] = math.inf
    return d.min(dim=1).values


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 4, 6), (13,)])
def test_nearest_other_matches_brute_force(norm: str, shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(len(shape) + (norm == "l2"))
    # quantised pixels (like images) with a few near duplicates carrying other labels
    q = torch.randint(0, 17, (70, *shape), generator=g).float() / 16
    r = torch.randint(0, 17, (90, *shape), generator=g).float() / 16
    r[:5] = q[:5] + 0.01 * torch.randn(q[:5].shape, generator=g)
    yq = torch.randint(0, 3, (70,), generator=g)
    yr = torch.randint(0, 3, (90,), generator=g)
    yr[:5] = (yq[:5] + 1) % 3
    ref = _brute(q, yq, r, yr, norm, same=False)
    for cap in (math.inf, float(ref.median())):
        per, mn = nearest_other_distances(q, yq, r, yr, norm=norm, cap=cap)
        assert mn == pytest.approx(float(ref.min()), abs=1e-6)
        below = ref < cap
        assert torch.allclose(per[below], ref[below], atol=1e-6)
        assert (per[~below] >= cap).all() or math.isinf(cap)
    # train-train (symmetric) against brute force
    refs = _brute(r, yr, r, yr, norm, same=True)
    per, mn = nearest_other_distances(r, yr, None, None, norm=norm, cap=math.inf)
    assert torch.allclose(per, refs, atol=1e-6)
    assert mn == pytest.approx(float(refs.min()), abs=1e-6)


def test_no_differently_labelled_pair_gives_infinity() -> None:
    x = torch.rand(6, 1, 4, 4)
    per, mn = nearest_other_distances(x, torch.zeros(6, dtype=torch.long), None, None)
    assert math.isinf(mn) and torch.isinf(per).all()


def test_bad_inputs() -> None:
    x = torch.rand(4, 3)
    with pytest.raises(CertkitError):
        nearest_other_distances(x, torch.zeros(3, dtype=torch.long), None, None)
    with pytest.raises(CertkitError):
        nearest_other_distances(x, torch.zeros(4, dtype=torch.long), None, None, norm="l1")
    with pytest.raises(CertkitError):
        nearest_other_distances(x, torch.zeros(4, dtype=torch.long), torch.rand(4, 2),
                                torch.zeros(4, dtype=torch.long))


def test_separation_on_digits_writes_table(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    s = separation("digits", norm="linf", eps=0.1, train_size=300, test_size=100, out=tmp_path)
    from certkit.data import load_dataset

    d = load_dataset("digits", train_size=300, test_size=100)
    ref = _brute(d.test.x, d.test.y, d.train.x, d.train.y, "linf", same=False)
    assert s["test_train_min"] == pytest.approx(float(ref.min()), abs=1e-6)
    assert s["test_closer_than_2eps"] == int((ref < 0.2).sum())
    assert (tmp_path / "analysis" / "separation-digits-linf.csv").is_file()
    assert (tmp_path / "analysis" / "separation-digits-linf.png").is_file()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_large_magnitude_features_stay_exact(norm: str) -> None:
    g = torch.Generator().manual_seed(7)
    q = 1000 * torch.randn(40, 2, 4, 4, generator=g)
    r = 1000 * torch.randn(60, 2, 4, 4, generator=g)
    r[:3] = q[:3] + 1e-3 * torch.randn(q[:3].shape, generator=g)
    yq, yr = torch.zeros(40, dtype=torch.long), torch.ones(60, dtype=torch.long)
    ref = _brute(q, yq, r, yr, norm, same=False)
    per, mn = nearest_other_distances(q, yq, r, yr, norm=norm)
    assert torch.allclose(per, ref, rtol=1e-5, atol=1e-4)
    assert mn == pytest.approx(float(ref.min()), rel=1e-5, abs=1e-4)
