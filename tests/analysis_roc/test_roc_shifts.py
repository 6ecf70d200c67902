"""Distribution shifts: blur kernel by hand, rotation against rot90, scaling, seeding."""

from __future__ import annotations

import math

import pytest
import torch

from certkit.analysis.shifts import apply_shift, blur, gaussian_kernel3, rotate, scale
from certkit.errors import CertkitError


def test_blur_kernel_and_result_by_hand() -> None:
    s = 1.5
    w = [math.exp(-1 / (2 * s * s)), 1.0, math.exp(-1 / (2 * s * s))]
    k = torch.tensor([[a * b for b in w] for a in w], dtype=torch.float64)
    torch.testing.assert_close(gaussian_kernel3(torch.tensor([s], dtype=torch.float64))[0],
                               k / k.sum())
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1.0
    out = blur(x, torch.tensor([s]))
    torch.testing.assert_close(out[0, 0, 1:4, 1:4], k / k.sum())
    assert float(out.sum()) == pytest.approx(1.0)
    const = torch.full((2, 3, 6, 6), 0.4)
    torch.testing.assert_close(blur(const, torch.tensor([1.0, 2.0])), const)


def test_rotation_by_90_degrees_is_rot90_and_0_is_identity() -> None:
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(rotate(x, torch.zeros(2)), x)
    out = rotate(x, torch.full((2,), 90.0))
    torch.testing.assert_close(out, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-9, rtol=0)


def test_scaling_shrinks_about_the_centre() -> None:
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(scale(x, torch.ones(1)), x)
    ones = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    half = scale(ones, torch.tensor([0.5]))
    assert float(half[0, 0, 3:5, 3:5].min()) == pytest.approx(1.0)  # centre kept
    assert float(half[0, 0, 0].abs().max()) == 0.0  # border now empty
    assert float(half.sum()) == pytest.approx(0.25 * 64, rel=0.15)  # area shrinks by f^2


def test_apply_shift_is_seeded_and_in_range() -> None:
    x = torch.rand(20, 1, 8, 8)
    for name, (lo, hi) in {"blur": (1, 2), "rotation": (-30, 30), "scaling": (0.1, 1)}.items():
        a, sa = apply_shift(x, name, seed=3)
        b, sb = apply_shift(x, name, seed=3)
        _, sc = apply_shift(x, name, seed=4)
        assert torch.equal(a, b) and torch.equal(sa, sb) and not torch.equal(sa, sc)
        assert bool(((sa >= lo) & (sa <= hi)).all()) and float(sa.std()) > 0
        assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(CertkitError):
        apply_shift(x, "shear")
