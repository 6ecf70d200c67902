"""Randomized smoothing: confidence bounds, radius formula, constant classifiers, abstains."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom
from torch import nn

from certkit.errors import CertkitError
from certkit.verify.smoothing import (
    ABSTAIN,
    Smoothed,
    accuracy_curve,
    certified_accuracy,
    certified_radius,
    clopper_pearson,
    lower_confidence_bound,
    max_radius,
)


@pytest.mark.parametrize(("k", "n", "alpha"), [(1, 10, 0.05), (37, 50, 0.001), (99, 100, 0.01),
                                               (9_990, 10_000, 0.001), (5, 5, 0.1)])
def test_lower_bound_solves_the_binomial_tail_equation(k: int, n: int, alpha: float) -> None:
    # Clopper-Pearson: the lower bound p_L is the p at which P(X >= k) = alpha.
    p = lower_confidence_bound(k, n, alpha)
    assert 0.0 < p < k / n
    assert binom.sf(k - 1, n, p) == pytest.approx(alpha, rel=1e-6)


def test_two_sided_interval_tails_and_edges() -> None:
    lo, hi = clopper_pearson(7, 20, 0.05)
    assert binom.sf(6, 20, lo) == pytest.approx(0.025, rel=1e-6)
    assert binom.cdf(7, 20, hi) == pytest.approx(0.025, rel=1e-6)
    assert clopper_pearson(0, 20, 0.05)[0] == 0.0
    assert clopper_pearson(20, 20, 0.05)[1] == 1.0
    # k = n: the lower bound has the closed form (alpha) ** (1 / n)
    assert lower_confidence_bound(20, 20, 0.05) == pytest.approx(0.05 ** (1 / 20), rel=1e-12)


def test_matches_statsmodels_when_available() -> None:
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(3, 10), (80, 100), (999, 1000)]:
        ref = sm.proportion_confint(k, n, alpha=2 * 0.001, method="beta")[0]
        assert lower_confidence_bound(k, n, 0.001) == pytest.approx(ref, rel=1e-9)


def test_radius_formula_by_hand() -> None:
    # Phi(1) = 0.841344746..., Phi(2) = 0.977249868...
    assert certified_radius(0.8413447460685429, 0.5) == pytest.approx(0.5, abs=1e-9)
    assert certified_radius(0.9772498680518208, 0.25) == pytest.approx(0.5, abs=1e-9)
    assert certified_radius(0.5, 1.0) == 0.0
    assert certified_radius(0.3, 1.0) == 0.0
    assert certified_radius(1.0, 0.25) == math.inf
    with pytest.raises(CertkitError):
        certified_radius(1.5, 0.25)


class _Const(nn.Module):
    def __init__(self, cls: int, k: int = 10) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(k))
        self.bias.data[cls] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1) + 0 * x.flatten(1)[:, :1]


class _Coin(nn.Module):
    """Class 0 or 1 by the sign of the first input coordinate (a fair coin under noise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1)[:, :1]
        return torch.cat([s, -s], dim=1)


def test_constant_classifier_gets_the_clipped_maximum_radius() -> None:
    sigma, n, alpha = 0.5, 2000, 0.001
    sm = Smoothed(_Const(3), 10, sigma, batch_size=300)
    cert = sm.certify(torch.rand(1, 4, 4), n0=50, n=n, alpha=alpha)
    assert cert.label == 3 and cert.count == n
    # all n samples agree: p_A = alpha ** (1/n) = exp(ln(0.001) / 2000) = 0.9965521, and
    # Phi^-1(0.9965521) = 2.70183, so the radius is clipped at 0.5 * 2.70183 (not +inf)
    assert cert.p_lower == pytest.approx(math.exp(math.log(alpha) / n), rel=1e-12)
    assert math.isfinite(cert.radius)
    assert cert.radius == pytest.approx(0.5 * 2.70183, abs=2e-5)
    assert cert.radius == pytest.approx(max_radius(sigma, n, alpha), rel=1e-12)
    assert sm.predict(torch.rand(1, 4, 4), n=200, alpha=alpha) == 3


def test_coin_classifier_abstains_and_abstains_never_count() -> None:
    sm = Smoothed(_Coin(), 2, 0.5, seed=1)
    x = torch.zeros(1, 3, 3)
    cert = sm.certify(x, n0=100, n=2000, alpha=0.001)
    assert cert.label == ABSTAIN and cert.radius == 0.0
    assert sm.predict(x, n=2000, alpha=0.001) == ABSTAIN
    # an abstain is never correct, even against a label equal to the ABSTAIN code
    assert certified_accuracy([ABSTAIN, 1], [0.0, 0.2], [ABSTAIN, 1], 0.0) == 0.5
    assert certified_accuracy([ABSTAIN], [5.0], [0], 0.0) == 0.0


def test_far_from_boundary_coin_is_certified_with_the_right_radius() -> None:
    # f(x) = [x0 > 0]: the smoothed probability is exactly Phi(x0 / sigma), so the true radius
    # is x0; the certified one must lie below it and approach it with many samples.
    sigma, x0 = 0.5, 0.6
    sm = Smoothed(_Coin(), 2, sigma, batch_size=5000, seed=3)
    x = torch.zeros(1, 3, 3)
    x[0, 0, 0] = x0
    cert = sm.certify(x, n0=100, n=20_000, alpha=0.001)
    assert cert.label == 0
    assert 0.5 * x0 < cert.radius < x0


def test_counts_are_reproducible_and_batched_consistently() -> None:
    x = torch.zeros(1, 3, 3)
    a = Smoothed(_Coin(), 2, 0.3, batch_size=7, seed=5).counts(x, 100)
    b = Smoothed(_Coin(), 2, 0.3, batch_size=7, seed=5).counts(x, 100)
    assert np.array_equal(a, b) and a.sum() == 100


def test_curve_is_non_increasing() -> None:
    labels, radii, targets = [1, 2, ABSTAIN, 0], [0.3, 0.9, 0.0, 0.5], [1, 2, 0, 1]
    curve = accuracy_curve(labels, radii, targets, [0.0, 0.3, 0.5, 1.0])
    assert [a for _, a in curve] == [0.5, 0.5, 0.25, 0.0]


@pytest.mark.parametrize("kwargs", [{"sigma": 0.0}, {"sigma": float("nan")},
                                    {"batch_size": 0}])
def test_bad_construction(kwargs: dict) -> None:
    args = {"sigma": 0.25, **kwargs}
    with pytest.raises(CertkitError):
        Smoothed(_Coin(), 2, **args)


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"alpha": 1.0}, {"n0": 0}, {"n": 0},
                                    {"n": 2.5}])
def test_bad_certify_arguments(kwargs: dict) -> None:
    sm = Smoothed(_Coin(), 2, 0.25)
    with pytest.raises(CertkitError):
        sm.certify(torch.zeros(1, 2, 2), **{"n0": 10, "n": 10, "alpha": 0.01, **kwargs})
    with pytest.raises(CertkitError):
        sm.counts(torch.full((1, 2, 2), float("nan")), 5)
