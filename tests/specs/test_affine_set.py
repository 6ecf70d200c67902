"""AffineSet: membership, projection, sampling, its box, its lift; dtype changes of specs."""

from __future__ import annotations

import pytest
import torch

from certkit.errors import CertkitError
from certkit.specs import AffineLayer, AffineSet, Box, L2Ball, LinfBall

DT = torch.float64


def _set(b: int = 3, k: int = 2, seed: int = 0) -> AffineSet:
    g = torch.Generator().manual_seed(seed)
    center = torch.rand(b, 1, 4, 4, generator=g, dtype=DT)
    gens = torch.randn(b, 1, 4, 4, k, generator=g, dtype=DT)
    return AffineSet(center, gens, -torch.rand(b, k, generator=g, dtype=DT),
                     torch.rand(b, k, generator=g, dtype=DT))


def test_samples_are_members_and_inside_the_box() -> None:
    s = _set()
    pts = s.sample(50, torch.Generator().manual_seed(1))
    lo, hi = s.input_box()
    for p in pts:
        assert bool(s.contains(p, tol=1e-9).all())
        assert bool(((p >= lo - 1e-12) & (p <= hi + 1e-12)).all())


def test_box_corners_of_the_coefficients_attain_the_input_box() -> None:
    s = _set(b=1, k=1)
    lo, hi = s.input_box()
    a, b = s.point(s.coeff_lower), s.point(s.coeff_upper)
    torch.testing.assert_close(torch.minimum(a, b), lo)
    torch.testing.assert_close(torch.maximum(a, b), hi)


def test_projection_lands_in_the_set_and_fixes_members() -> None:
    s = _set()
    x = torch.rand(3, 1, 4, 4, dtype=DT)
    assert bool(s.contains(s.project(x), tol=1e-9).all())
    member = s.sample(1, torch.Generator().manual_seed(2))[0]
    torch.testing.assert_close(s.project(member), member)
    assert not bool(s.contains(x + 5.0).any())


def test_lift_is_an_affine_layer_over_the_coefficient_box() -> None:
    s = _set()
    lifted = s.lift()
    assert isinstance(lifted.prefix, AffineLayer)
    torch.testing.assert_close(lifted.lower, s.coeff_lower)
    torch.testing.assert_close(lifted.prefix(lifted.clean),
                               s.point((s.coeff_lower + s.coeff_upper) / 2))


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"generators": torch.ones(3, 1, 4, 4)}, "generators must have shape"),
    ({"coeff_lower": torch.zeros(3, 3)}, "coeff_lower must have shape"),
    ({"coeff_lower": torch.ones(3, 2), "coeff_upper": torch.zeros(3, 2)}, "exceeds"),
    ({"center": torch.full((3, 1, 4, 4), float("nan"))}, "NaN or Inf"),
])
def test_bad_affine_sets(kwargs: dict[str, torch.Tensor], pattern: str) -> None:
    args = {"center": torch.zeros(3, 1, 4, 4), "generators": torch.ones(3, 1, 4, 4, 2),
            "coeff_lower": -torch.ones(3, 2), "coeff_upper": torch.ones(3, 2), **kwargs}
    with pytest.raises(CertkitError, match=pattern):
        AffineSet(**args)


def test_to_float64_rebuilds_balls_from_their_definition() -> None:
    x = 0.1 + 0.8 * torch.rand(2, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    ball = LinfBall(x, 0.02).to(DT)
    # the float64 box is x (as given) +- 0.02 to float64 precision, not the float32 box
    # (whose rounding errors are ~1e-8)
    gap = (ball.upper - x.double() - 0.02).abs().max()
    assert float(gap) < 1e-15
    assert float((LinfBall(x, 0.02).upper.double() - x.double() - 0.02).abs().max()) > 1e-10
    assert ball.lower.dtype == DT and float(ball.eps) == 0.02
    l2 = L2Ball(x, 0.5).to(DT)
    assert l2.center.dtype == DT and l2.lift().l2_radius.tolist() == [0.5, 0.5]
    box = Box(x, x + 0.1).to(DT)
    assert box.upper.dtype == DT
    assert _set().to(torch.float32).center.dtype == torch.float32


def test_l2_lift_carries_the_ball() -> None:
    x = torch.rand(3, 1, 2, 2, dtype=DT)
    lifted = L2Ball(x, torch.tensor([0.1, 0.2, 0.3], dtype=DT)).lift()
    torch.testing.assert_close(lifted.l2_radius, torch.tensor([0.1, 0.2, 0.3], dtype=DT))
    assert torch.equal(lifted.l2_center, x)
