"""PGD in the coefficient space of a bias field: the coefficients stay in the box."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.analysis.adversarial import adversarial_accuracy
from certkit.attacks import APGD, FGSM, PGD
from certkit.specs import BiasField, Brightness
from certkit.verify import certify


def small_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 4)).eval()


@pytest.mark.parametrize("make", [
    lambda m, f: PGD(m, f, steps=15, restarts=2, loss="margin"),
    lambda m, f: PGD(m, f, steps=10, targeted=True),
    lambda m, f: FGSM(m, f),
    lambda m, f: APGD(m, f, steps=10),
])
def test_attack_coefficients_stay_in_the_box(make) -> None:
    g = torch.Generator().manual_seed(0)
    model = small_net(0)
    x = torch.rand(12, 1, 8, 8, generator=g)
    y = torch.randint(0, 4, (12,), generator=g)
    field = BiasField(order=3, eps=0.4, additive=True)
    atk = make(model, field)
    x_adv = atk(x, y)
    a = atk.last_params
    assert a is not None and a.shape == (12, field.num_coeffs(1))
    spec = field(x)
    assert bool((a >= spec.coeff_lower - 1e-7).all() and (a <= spec.coeff_upper + 1e-7).all())
    torch.testing.assert_close(x_adv, spec.point(a))  # the image is T(x; a), clipped
    assert bool((x_adv >= 0).all() and (x_adv <= 1).all())


def test_attack_moves_coefficients_and_never_breaks_a_certified_sample() -> None:
    g = torch.Generator().manual_seed(1)
    model = small_net(1).double()
    x = torch.rand(40, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    field = BiasField(order=3, eps=0.5)
    res = adversarial_accuracy(model, x, y, PGD(model, field, steps=20, restarts=2,
                                                loss="margin"), keep_examples=True)
    broken = res["pred_adv"] != res["y"]
    assert bool(broken.any()), "a strong field should break some samples of a random net"
    params = res["params"]
    spec = field(x)
    assert bool((params >= spec.coeff_lower - 1e-9).all())
    assert bool((params <= spec.coeff_upper + 1e-9).all())
    certified = torch.tensor([r.certified for r in certify(model, x, y, spec, "crown")])
    assert not bool((certified & broken).any())
    # the attack is no weaker than the clean point and at least as strong as sampling
    assert res["robust_accuracy"] <= res["clean_accuracy"]


def test_brightness_attack_is_a_constant_shift() -> None:
    model = small_net(2)
    x = torch.rand(6, 1, 8, 8) * 0.5 + 0.25  # no clipping at eps 0.2
    y = torch.zeros(6, dtype=torch.long)
    atk = PGD(model, Brightness(0.2), steps=5)
    x_adv = atk(x, y)
    shift = (x_adv - x).flatten(1)
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift), rtol=0, atol=1e-6)
    assert bool((shift.abs() <= 0.2 + 1e-6).all())


def test_extreme_fields_of_the_figure_are_box_corners_of_the_constant_terms() -> None:
    from certkit.analysis.biasfield_figure import extreme_coefficients

    x = torch.rand(3, 1, 6, 6)
    field = BiasField(order=2, eps=0.3, additive=True)
    low, high = extreme_coefficients(field, x)
    spec = field(x)
    const = field.constant_mask(1)
    assert const.tolist() == [True] + [False] * 5 + [True] + [False] * 5
    torch.testing.assert_close(low[:, const], spec.coeff_lower[:, const])
    torch.testing.assert_close(high[:, const], spec.coeff_upper[:, const])
    torch.testing.assert_close(low[:, ~const], torch.zeros(3, 10))
    # the darkest constant field: 0.7 x - 0.3, clipped
    torch.testing.assert_close(spec.point(low), (0.7 * x - 0.3).clamp(0, 1))
