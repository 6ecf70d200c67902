"""Randomized smoothing (Cohen et al. 2019; survey section 4.2): PREDICT and CERTIFY.

The smoothed classifier is ``g(x) = argmax_c P(f(x + e) = c)``, ``e ~ N(0, sigma^2 I)``, with
the noise *not* clipped to [0, 1] (the same noise the ``gaussian`` training method uses).

* :meth:`Smoothed.predict` -- Cohen's PREDICT: draw ``n`` noisy copies, take the two most
  frequent classes ``(n_A, n_B)`` and abstain unless a two-sided binomial test of
  ``n_A ~ Bin(n_A + n_B, 1/2)`` rejects at level ``alpha``.
* :meth:`Smoothed.certify` -- Cohen's CERTIFY: guess the top class from ``n0`` selection
  samples, count it in ``n`` fresh estimation samples, take the one-sided Clopper--Pearson
  lower confidence bound ``p_A`` at level ``alpha`` and return the L2 radius
  ``sigma * Phi^-1(p_A)``, or abstain when ``p_A <= 1/2``.

**Radius clipping.** A classifier that always answers the same class has an infinite true
radius, but with ``n`` samples the lower bound is at most ``alpha ** (1/n)`` (all ``n``
samples agree), so a certified radius never exceeds :func:`max_radius` ``= sigma *
Phi^-1(alpha ** (1/n))`` (3.81 sigma for the defaults n = 100,000, alpha = 0.001). A
``p_A`` of exactly 1 (only reachable by calling :func:`certified_radius` directly) gives
``+inf``; CERTIFY never reports it. An abstention is label :data:`ABSTAIN` (-1) with radius
0 and never counts as correct.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm
from torch import nn

from ..errors import CertkitError

ABSTAIN = -1


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise CertkitError(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CertkitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def lower_confidence_bound(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper--Pearson lower bound on a binomial ``p`` from ``k`` of ``n``.

    ``P(p < bound) <= alpha``: the ``alpha`` quantile of ``Beta(k, n - k + 1)`` (0 when
    ``k = 0``); equal to statsmodels' ``proportion_confint(k, n, 2 * alpha, "beta")[0]``.
    """
    n = _check_count("n", n, 1)
    k = _check_count("k", k, 0)
    if k > n:
        raise CertkitError(f"k = {k} successes exceed n = {n} trials")
    alpha = _check_alpha(alpha)
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Two-sided Clopper--Pearson interval with coverage ``1 - alpha``."""
    lo = lower_confidence_bound(k, n, alpha / 2)
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def certified_radius(p_lower: float, sigma: float) -> float:
    """``sigma * Phi^-1(p_lower)`` (``+inf`` at ``p_lower = 1``); 0 when ``p_lower <= 1/2``."""
    if not 0.0 <= p_lower <= 1.0:
        raise CertkitError(f"p_lower must lie in [0, 1], got {p_lower!r}")
    if p_lower <= 0.5:
        return 0.0
    return float(sigma * norm.ppf(p_lower))


def max_radius(sigma: float, n: int, alpha: float) -> float:
    """The largest radius CERTIFY can report with ``n`` samples at level ``alpha``."""
    return certified_radius(lower_confidence_bound(n, n, alpha), sigma)


@dataclass(frozen=True)
class SmoothedCertificate:
    """CERTIFY's answer for one input: ``label`` (or ABSTAIN), radius, counts and p_A."""

    label: int
    radius: float
    p_lower: float
    count: int  # estimation samples that gave ``label`` (the selected class)
    n: int

    @property
    def abstained(self) -> bool:
        return self.label == ABSTAIN


class Smoothed:
    """The Gaussian-smoothed version of ``model`` (a classifier on inputs of any shape).

    ``batch_size`` noisy copies are drawn and classified at a time; noise comes from a torch
    generator seeded with ``seed`` on the model's device, so results are reproducible.
    """

    def __init__(self, model: nn.Module, num_classes: int, sigma: float, *,
                 batch_size: int = 1000, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
            raise CertkitError(f"sigma must be a finite number > 0, got {sigma!r}")
        self.model = model
        self.num_classes = _check_count("num_classes", num_classes, 2)
        self.sigma = float(sigma)
        self.batch_size = _check_count("batch_size", batch_size, 1)
        first = next(iter(model.parameters()), None)
        if device is None:
            device = first.device if first is not None else "cpu"
        self.device = torch.device(device)
        self.dtype = first.dtype if first is not None and first.is_floating_point() \
            else torch.float32
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))

    def counts(self, x: torch.Tensor, num: int) -> np.ndarray:
        """How often ``model(x + noise)`` picks each class among ``num`` noisy copies of ``x``.

        ``x`` is one input without a batch dimension.
        """
        num = _check_count("number of noise samples", num, 1)
        if not torch.isfinite(x).all():
            raise CertkitError("input contains NaN or infinity")
        x = x.to(self.device, self.dtype)
        out = torch.zeros(self.num_classes, dtype=torch.long, device=self.device)
        was = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad():
                left = num
                while left > 0:
                    b = min(self.batch_size, left)
                    batch = x.unsqueeze(0).expand(b, *x.shape)
                    noise = torch.randn(batch.shape, generator=self.generator,
                                        device=self.device, dtype=batch.dtype)
                    logits = self.model(batch + self.sigma * noise)
                    if logits.shape[-1] != self.num_classes:
                        raise CertkitError(f"model gives {logits.shape[-1]} outputs, expected "
                                           f"{self.num_classes} classes")
                    out += torch.bincount(logits.argmax(dim=1), minlength=self.num_classes)
                    left -= b
        finally:
            for m, mode in was:
                m.training = mode
        return out.cpu().numpy()

    def predict(self, x: torch.Tensor, n: int = 100_000, alpha: float = 0.001) -> int:
        """PREDICT: the smoothed label, or ABSTAIN if the top two classes are not separated."""
        alpha = _check_alpha(alpha)
        c = self.counts(x, n)
        top2 = np.argsort(-c, kind="stable")[:2]
        n_a, n_b = int(c[top2[0]]), int(c[top2[1]])
        if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
            return ABSTAIN
        return int(top2[0])

    def certify(self, x: torch.Tensor, n0: int = 100, n: int = 100_000,
                alpha: float = 0.001) -> SmoothedCertificate:
        """CERTIFY: the label with an L2 radius valid with probability >= ``1 - alpha``."""
        alpha = _check_alpha(alpha)
        n0 = _check_count("n0", n0, 1)
        n = _check_count("n", n, 1)
        guess = int(np.argmax(self.counts(x, n0)))
        count = int(self.counts(x, n)[guess])
        p_lower = lower_confidence_bound(count, n, alpha)
        if p_lower <= 0.5:
            return SmoothedCertificate(ABSTAIN, 0.0, p_lower, count, n)
        return SmoothedCertificate(guess, certified_radius(p_lower, self.sigma), p_lower,
                                   count, n)


def certified_accuracy(labels: Sequence[int], radii: Sequence[float], targets: Sequence[int],
                       radius: float) -> float:
    """Fraction of samples certified correct with radius >= ``radius`` (abstains never count)."""
    if not (len(labels) == len(radii) == len(targets)):
        raise CertkitError("labels, radii and targets must have the same length")
    if not targets:
        return 0.0
    ok = sum(1 for lab, r, t in zip(labels, radii, targets, strict=True)
             if lab != ABSTAIN and lab == t and r >= radius)
    return ok / len(targets)


def accuracy_curve(labels: Sequence[int], radii: Sequence[float], targets: Sequence[int],
                   grid: Sequence[float]) -> list[tuple[float, float]]:
    """``(radius, certified accuracy)`` at every radius of ``grid``."""
    return [(float(r), certified_accuracy(labels, radii, targets, r)) for r in grid]
