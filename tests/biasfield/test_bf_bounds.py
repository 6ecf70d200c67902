"""Bound methods on bias-field specs: soundness, RSIP-SSIP vs RSIP-IBP, Theorem 2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.bounds import bound, method_names
from certkit.models import Normalize
from certkit.specs import BiasField, Brightness, Contrast, LinfBall
from certkit.verify import certify


def tiny_convnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        Normalize([0.4], [0.3]), nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=1, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 5),
    ).double().eval().requires_grad_(False)


FIELDS = {
    "mult3": BiasField(order=3, eps=0.3),
    "both2-per-channel": BiasField(order=2, eps=0.2, additive=True, channels="per-channel"),
    "brightness": Brightness(0.15),
    "contrast": Contrast(0.4),
}


def coefficient_samples(spec, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` coefficient vectors per sample: uniform points and box corners, (n, B, k)."""
    lo, hi = spec.coeff_lower, spec.coeff_upper
    u = torch.rand((n, *lo.shape), generator=g, dtype=lo.dtype)
    u[: n // 2] = (u[: n // 2] < 0.5).to(lo.dtype)  # half of them vertices
    return lo + u * (hi - lo)


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("name", list(FIELDS))
def test_every_method_is_sound_on_bias_fields(method: str, name: str) -> None:
    g = torch.Generator().manual_seed(7)
    model = tiny_convnet(1)
    x = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64) * 0.9 + 0.05
    x[0, 0, :2] = 0.999  # pixels that the field pushes through the clipping
    spec = FIELDS[name](x)
    C = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    lo, hi = bound(model, spec, method, C)
    a = coefficient_samples(spec, 64, g)
    with torch.no_grad():
        outs = torch.stack([torch.einsum("bmo,bo->bm", C, model(spec.point(ai))) for ai in a])
    assert bool((outs >= lo - 1e-9).all()), (outs.amin(0) - lo).min()
    assert bool((outs <= hi + 1e-9).all()), (hi - outs.amax(0)).min()


@pytest.mark.parametrize("seed", range(6))
def test_rsip_ssip_is_never_looser_than_rsip_ibp(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    model = tiny_convnet(seed)
    x = torch.rand(8, 1, 8, 8, generator=g, dtype=torch.float64)
    for eps in (0.05, 0.2, 0.5):
        spec = BiasField(order=3, eps=eps)(x)
        lo_i, hi_i = bound(model, spec, "crown-ibp")
        lo_s, hi_s = bound(model, spec, "rsip-ssip")
        assert bool((lo_s >= lo_i - 1e-9).all()), (lo_s - lo_i).min()
        assert bool((hi_s <= hi_i + 1e-9).all()), (hi_i - hi_s).min()


def test_theorem2_ibp_of_brightness_equals_ibp_of_the_linf_box() -> None:
    g = torch.Generator().manual_seed(2)
    model = tiny_convnet(3)
    x = torch.rand(5, 1, 8, 8, generator=g, dtype=torch.float64)
    for eps in (0.01, 0.1, 0.3):
        lo_b, hi_b = bound(model, Brightness(eps)(x), "ibp")
        lo_x, hi_x = bound(model, LinfBall(x, eps), "ibp")
        torch.testing.assert_close(lo_b, lo_x, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(hi_b, hi_x, rtol=1e-12, atol=1e-12)
        # ... while the symbolic method sees that brightness is a 1-D subset of the box
        lo_c, hi_c = bound(model, Brightness(eps)(x), "crown")
        lo_cx, hi_cx = bound(model, LinfBall(x, eps), "crown")
        assert float((hi_c - lo_c).sum()) < float((hi_cx - lo_cx).sum())


def test_certified_samples_have_no_sampled_counterexample() -> None:
    g = torch.Generator().manual_seed(4)
    model = tiny_convnet(4)
    x = torch.rand(16, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    field = BiasField(order=3, eps=0.1)
    res = certify(model, x, y, field(x), "rsip-ssip")
    certified = torch.tensor([r.certified for r in res])
    assert bool(certified.any())
    spec = field(x)
    for a in coefficient_samples(spec, 64, g):
        with torch.no_grad():
            pred = model(spec.point(a)).argmax(1)
        assert bool((pred[certified] == y[certified]).all())
    margins = torch.tensor([r.margin_lower for r in res])
    assert bool((margins[certified] > 0).all())
