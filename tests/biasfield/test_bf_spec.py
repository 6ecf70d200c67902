"""The bias-field spec: the transform network reproduces T(x; a), its clipping is a clamp."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.bounds.registry import lowering_for
from certkit.errors import CertkitError
from certkit.models import Clip
from certkit.specs import AffineSet, BiasField, BiasFieldSet, Brightness, Contrast


def hand_field(coeffs: list[float], terms: list[tuple[int, int]], h: int, w: int) -> torch.Tensor:
    """B(a)_{i,j} = sum a_{t,g} (i/h)^t (j/w)^g, pixel by pixel (float64)."""
    out = torch.zeros(h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = sum(a * (i / h) ** t * (j / w) ** g for a, (t, g) in zip(coeffs, terms,
                                                                                  strict=True))
    return out


def total_terms(k: int) -> list[tuple[int, int]]:
    return [(t, g) for d in range(k + 1) for t in range(d, -1, -1) for g in [d - t]]


def random_coeffs(spec: AffineSet, g: torch.Generator) -> torch.Tensor:
    u = torch.rand(spec.coeff_lower.shape, generator=g, dtype=spec.coeff_lower.dtype)
    return spec.coeff_lower + u * (spec.coeff_upper - spec.coeff_lower)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_transform_network_reproduces_multiplicative_and_additive_field(order: int) -> None:
    g = torch.Generator().manual_seed(order)
    x = torch.rand(3, 1, 5, 7, generator=g, dtype=torch.float64)
    field = BiasField(order=order, multiplicative=True, additive=True, eps=0.3)
    spec = field(x)
    terms = total_terms(order)
    p = len(terms)
    assert spec.num_coeffs == 2 * p == (order + 1) * (order + 2)
    a = random_coeffs(spec, g) * 3  # also far outside the box: the layer is exact everywhere
    prefix = spec.lift().prefix
    assert prefix is not None
    got = prefix(a)
    for b in range(3):
        bm = hand_field(a[b, :p].tolist(), terms, 5, 7)
        ba = hand_field(a[b, p:].tolist(), terms, 5, 7)
        want = torch.clamp(x[b, 0] * bm + ba, 0.0, 1.0)
        torch.testing.assert_close(got[b, 0], want, rtol=0, atol=1e-12)
        torch.testing.assert_close(spec.point(a)[b, 0], want, rtol=0, atol=1e-12)
    bm, ba = spec.fields(a)
    assert bm is not None and ba is not None
    torch.testing.assert_close(spec.transform(a), x * bm + ba)


def test_per_channel_fields_act_on_their_own_channel() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64)
    field = BiasField(order=2, eps=0.2, channels="per-channel")
    spec = field(x)
    terms = total_terms(2)
    assert spec.num_coeffs == 3 * len(terms)
    a = random_coeffs(spec, g)
    got = spec.transform(a)
    for b in range(2):
        for c in range(3):
            bm = hand_field(a[b, c * 6:(c + 1) * 6].tolist(), terms, 4, 4)
            torch.testing.assert_close(got[b, c], x[b, c] * bm, rtol=0, atol=1e-12)
    shared = BiasField(order=2, eps=0.2)(x)
    assert shared.num_coeffs == 6
    bm = hand_field(a[0, :6].tolist(), terms, 4, 4)
    torch.testing.assert_close(shared.transform(a[:, :6])[0], x[0] * bm, rtol=0, atol=1e-12)


def test_tensor_basis_has_the_papers_sixteen_terms() -> None:
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    spec = BiasField(order=3, basis="tensor", eps=0.1)(x)
    assert spec.num_coeffs == 16
    a = torch.zeros(1, 16, dtype=torch.float64)
    a[0, 15] = 1.0  # (t, g) = (3, 3), the last term
    want = hand_field([1.0], [(3, 3)], 6, 6)
    torch.testing.assert_close(spec.transform(a)[0, 0], x[0, 0] * want)


def test_coefficient_box_follows_the_papers_experiments() -> None:
    x = torch.rand(2, 1, 4, 4)
    spec = BiasField(order=3, eps=0.3)(x)
    lo, hi = spec.coeff_lower[0], spec.coeff_upper[0]
    torch.testing.assert_close(lo[0], torch.tensor(0.7))
    torch.testing.assert_close(hi[0], torch.tensor(1.3))
    torch.testing.assert_close(hi[1:], torch.full((9,), 0.02))
    torch.testing.assert_close(lo[1:], torch.full((9,), -0.02))
    # the box midpoint is the identity transform: the clean point is x itself
    lifted = spec.lift()
    assert lifted.prefix is not None
    torch.testing.assert_close(lifted.prefix(lifted.clean), x)
    b = Brightness(0.1)(x)
    torch.testing.assert_close(b.coeff_lower, torch.full((2, 1), -0.1))
    torch.testing.assert_close(b.point(torch.full((2, 1), 0.05)), (x + 0.05).clamp(0, 1))
    c = Contrast(0.1)(x)
    torch.testing.assert_close(c.coeff_upper, torch.full((2, 1), 1.1))
    torch.testing.assert_close(c.point(torch.full((2, 1), 1.1)), (x * 1.1).clamp(0, 1))


def test_clipping_layer_matches_torch_clamp_and_the_relu_formula() -> None:
    t = torch.linspace(-2, 3, 1001, dtype=torch.float64).view(1, 1, 7, 143)
    relu = torch.relu
    paper = -(relu(-relu(t) + 1) - 1)  # section 5: -(ReLU(-ReLU(x) + 1) - 1)
    # equal up to the rounding of 1 - (1 - x)
    torch.testing.assert_close(paper, torch.clamp(t, 0, 1), rtol=0, atol=1e-15)
    clip = Clip(0.0, 1.0)
    torch.testing.assert_close(clip(t), torch.clamp(t, 0, 1), rtol=0, atol=0)
    lower = lowering_for(clip)
    assert lower is not None
    v = t
    for op in lower(clip, t):  # what the bound engine propagates through
        v = op.forward(v)
    torch.testing.assert_close(v, torch.clamp(t, 0, 1), rtol=0, atol=1e-15)


def test_samples_and_box_are_consistent_and_to_rebuilds_exactly() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 1, 6, 6, generator=g)
    spec = BiasField(order=3, eps=0.4, additive=True)(x)
    pts = spec.sample(20, g)
    lo, hi = spec.input_box()
    assert bool((pts >= lo - 1e-6).all() and (pts <= hi + 1e-6).all())
    assert bool((pts >= 0).all() and (pts <= 1).all())
    assert bool(spec.contains(pts[0], tol=1e-4).all())
    spec64 = spec.to(torch.float64)
    assert isinstance(spec64, BiasFieldSet) and spec64.generators.dtype == torch.float64
    torch.testing.assert_close(spec64.generators.float(), spec.generators)
    far = spec.point(spec.coeff_upper * 1.5 + 0.2)
    assert not bool(spec.contains(far, tol=1e-4).all())
    assert bool(spec.contains(spec.project(far), tol=1e-4).all())


@pytest.mark.parametrize("kwargs,match", [
    ({"order": -1}, "order"), ({"order": 1.5}, "order"), ({"eps": -0.1}, "eps"),
    ({"eps": float("nan")}, "eps"), ({"multiplicative": False}, "multiplicative"),
    ({"channels": "rgb"}, "channels"), ({"basis": "legendre"}, "basis"),
])
def test_bad_settings_raise_clear_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(CertkitError, match=match):
        BiasField(**kwargs)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(CertkitError, match="image batch"):
        BiasField()(torch.rand(2, 64))
    with pytest.raises(CertkitError, match="NaN"):
        BiasField()(torch.full((1, 1, 4, 4), float("nan")))
    spec = BiasField(order=1)(torch.rand(2, 1, 4, 4))
    with pytest.raises(CertkitError, match="coefficients"):
        spec.fields(torch.zeros(2, 5))
    assert isinstance(spec.lift().prefix, nn.Sequential)
