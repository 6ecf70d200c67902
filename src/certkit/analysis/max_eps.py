"""Largest certifiable eps per sample, by batched bisection over an eps grid.

For a verdict that is monotone in eps (robust at eps implies robust at every smaller eps),
bisection over the *indices* of a sorted eps grid finds, for every sample, the last grid
point at which it is robust, in ``ceil(log2(P + 1))`` verdicts for a grid of ``P`` points
(12 for 4,000 points) instead of ``P``. Every curve over that grid (CCR, CIR, TPR, FPR)
then follows exactly from these per-sample indices (see :mod:`certkit.analysis.roc`).

IBP is monotone in eps (its boxes are nested); CROWN need not be in theory (its relaxation
slopes change with the bounds), so :func:`monotonicity_violations` measures it against the
brute-force grid. All samples bisect together: each step is one batched verdict call on a
:class:`~certkit.specs.LinfBall` with one eps per sample. The verdicts are those of
:mod:`certkit.analysis.verdicts`: bound margins (float32, float64 near zero) or a fresh PGD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..bounds import BoundOptions
from ..errors import CertkitError
from ..specs.lp import Domain
from .interpolate import interpolate_grid
from .parallel import run_chunked
from .verdicts import Verdict, attack_verdict, certify_verdict

__all__ = ["Radii", "attack_verdict", "bisect_grid", "bisection_calls", "brute_force_robust",
           "certify_verdict", "eps_grid", "max_certified_eps", "max_robust_eps",
           "monotonicity_violations"]
CONV_CERTIFY_BATCH = 8  # samples per bound call on conv nets (fastest per sample for CROWN)
CERTIFY_BATCH = 256  # samples per bound call on dense nets, where batching amortises overhead
ATTACK_BATCH = 256  # samples per attack call
SEARCHES = ("interpolate", "bisection")
BRACKET_POINTS = 64  # grid points of the PGD bracket search
BRACKET_STEPS = 10  # PGD steps per bracket verdict
BRUTE_PAIRS = 512  # (sample, eps) pairs per verdict call of the brute-force grid


def certify_batch(model: nn.Module) -> int:
    """Default samples per bound call: small chunks for conv nets, large ones otherwise."""
    has_conv = any(isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d) for m in model.modules())
    return CONV_CERTIFY_BATCH if has_conv else CERTIFY_BATCH


@dataclass
class Radii:
    """Per-sample result of a bisection over an eps grid.

    ``index[i]`` is the last grid point at which sample ``i`` is robust (-1: at none), and
    ``eps[i]`` that grid value (0 where ``index`` is -1). ``pred`` is the predicted class,
    ``calls`` the verdict evaluations per sample (mean; at most ``ceil(log2(P + 1))``) and
    ``attack_calls`` those of the PGD bracket (0 without one).
    """

    index: Tensor
    eps: Tensor
    pred: Tensor
    grid: Tensor
    calls: float
    attack_calls: float = 0.0

    def radius(self) -> Tensor:
        """eps, with -1 for samples robust at no grid point (ROC convention)."""
        return torch.where(self.index >= 0, self.eps, torch.full_like(self.eps, -1.0))


def eps_grid(eps_max: float, points: int) -> Tensor:
    """``points`` equidistant eps values from 0 to ``eps_max`` (float64)."""
    if not math.isfinite(eps_max) or eps_max <= 0:
        raise CertkitError(f"eps_max must be a finite number > 0, got {eps_max}")
    if points < 2:
        raise CertkitError(f"the eps grid needs at least 2 points, got {points}")
    return torch.linspace(0.0, eps_max, points, dtype=torch.float64)


def _check_grid(grid: Tensor) -> Tensor:
    grid = torch.as_tensor(grid, dtype=torch.float64).flatten()
    if grid.numel() < 1 or not bool(torch.isfinite(grid).all()) or bool((grid < 0).any()):
        raise CertkitError("the eps grid must be non-empty, finite and >= 0")
    if grid.numel() > 1 and bool((grid[1:] <= grid[:-1]).any()):
        raise CertkitError("the eps grid must be strictly increasing")
    return grid


def bisect_grid(verdict: Verdict, x: Tensor, grid: Tensor, *, batch_size: int = 256,
                hi: Tensor | None = None, sort: bool = True) -> Tensor:
    """Per sample, the last index of ``grid`` where ``verdict`` holds (-1: none).

    ``hi`` (optional, per sample) is an index already known to fail (e.g. where an attack
    succeeded); the search then stays below it, in fewer and cheaper verdict calls. With
    ``sort`` each step batches the samples in order of the eps they are tested at.

    Exact for verdicts monotone in eps; otherwise it returns *some* index ``k`` with the
    verdict true at ``k`` and false at ``k + 1`` (a boundary), which is what a user of a
    non-monotone verifier can still rely on at the returned eps itself.
    """
    grid = _check_grid(grid)
    n, p = x.shape[0], grid.numel()
    lo = torch.full((n,), -1, dtype=torch.long)
    hi = torch.full((n,), p, dtype=torch.long) if hi is None else hi.clone().clamp(0, p)
    while True:
        active = torch.nonzero(hi - lo > 1).flatten()
        if active.numel() == 0:
            return lo
        mid = (lo[active] + hi[active]) // 2
        if sort:  # batches of similar eps: similar (fewer padded) unstable-neuron counts
            order = torch.argsort(mid, stable=True)
            active, mid = active[order], mid[order]
        ok = torch.empty(active.numel(), dtype=torch.bool)
        for s in range(0, active.numel(), batch_size):
            idx = active[s:s + batch_size]
            ok[s:s + batch_size] = verdict(x[idx], grid[mid[s:s + batch_size]]).cpu()
        lo[active[ok]] = mid[ok]
        hi[active[~ok]] = mid[~ok]


def _counted(verdict: Verdict, counter: list[int]) -> Verdict:
    def wrapped(xb: Tensor, eps: Tensor) -> Tensor:
        counter[0] += xb.shape[0]
        return verdict(xb, eps)

    return wrapped


def bisection_calls(points: int) -> int:
    """Verdict calls per sample for a grid of ``points`` values: ``ceil(log2(points + 1))``."""
    return math.ceil(math.log2(points + 1))


def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(x[s:s + batch_size]).argmax(dim=1).cpu()
                          for s in range(0, x.shape[0], batch_size)])


def max_robust_eps(model: nn.Module, x: Tensor, method: str = "crown", *,
                   eps_max: float = 0.2, tol: float = 1e-4, grid: Tensor | None = None,
                   domain: Domain = (0.0, 1.0), batch_size: int | None = None,
                   options: BoundOptions | None = None, attack_steps: int = 50,
                   attack_restarts: int = 1, bracket: bool = False,
                   precision: str = "mixed", search: str = "interpolate",
                   workers: int = 1) -> Radii:
    """Label-free: per sample, the largest grid eps at which its prediction is robust.

    ``method`` is a bound method (``ibp``, ``crown``, ...; a lower bound of the true radius)
    or ``"pgd"`` (the largest eps where PGD fails: an upper bound). The grid is ``grid`` if
    given, else ``0, tol, 2 tol, ..., eps_max`` (rounded up to a whole number of steps).
    With ``bracket`` a cheap PGD bisection (10 steps, on every k-th grid point so that at
    most 64 are searched) first finds, per sample, a grid eps where an adversarial example
    exists; no sound method certifies there, so the certificate search only looks below it
    (same result, cheaper verdicts).
    ``batch_size`` (default: 8 for bound methods on conv nets, else 256) is the number of
    samples per verdict call: CROWN on conv nets is fastest per sample in small batches (it
    pads every sample to the batch's largest count of unstable neurons), dense nets and
    attacks in large ones. ``precision``: ``mixed`` (float32 bounds, float64 where the
    margin is within rounding of zero) or ``float64`` (see :mod:`certkit.analysis.verdicts`).
    ``search``: ``interpolate`` (on the bound margins, :mod:`certkit.analysis.interpolate`;
    fewer calls) or ``bisection`` (yes/no verdicts only); the same index for monotone
    verdicts.
    ``workers`` > 1 searches chunks of the samples in that many processes (CPU only; the
    result is the same as with one).
    """
    if x.dim() < 2 or x.shape[0] == 0:
        raise CertkitError("x must be a non-empty batch of inputs")
    if grid is None:
        if not math.isfinite(tol) or tol <= 0:
            raise CertkitError(f"tol must be a finite number > 0, got {tol}")
        grid = eps_grid(eps_max, math.ceil(eps_max / tol) + 1)
    grid = _check_grid(grid)
    if batch_size is not None and batch_size < 1:
        raise CertkitError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 1:
        raise CertkitError(f"workers must be >= 1, got {workers}")
    if search not in SEARCHES:
        raise CertkitError(f"unknown search {search!r}; valid: {', '.join(SEARCHES)}")
    task = Search(method, grid, domain, batch_size, options, attack_steps, attack_restarts,
                  bracket, precision, search)
    was_training = model.training
    model.eval()
    try:
        done = run_chunked(task, model, x, workers)
        index = torch.cat([d[0] for d in done])
        calls, attack_calls = sum(d[1] for d in done), sum(d[2] for d in done)
        pred = _predict(model, x, batch_size or ATTACK_BATCH)
    finally:
        model.train(was_training)
    eps = torch.where(index >= 0, grid[index.clamp_min(0)], torch.zeros_like(grid[:1]))
    return Radii(index=index, eps=eps, pred=pred, grid=grid, calls=calls / x.shape[0],
                 attack_calls=attack_calls / x.shape[0])


@dataclass(frozen=True)
class Search:
    """The bisection of :func:`max_robust_eps` for one chunk of samples (picklable)."""

    method: str
    grid: Tensor
    domain: Domain
    batch_size: int | None
    options: BoundOptions | None
    attack_steps: int
    attack_restarts: int
    bracket: bool
    precision: str
    search: str

    def __call__(self, model: nn.Module, x: Tensor) -> tuple[Tensor, int, int]:
        """Grid indices of ``x`` and the verdict / attack calls spent (sample-calls)."""
        bound_bs = self.batch_size or certify_batch(model)
        attack_bs = self.batch_size or ATTACK_BATCH
        calls, attack_calls = [0], [0]
        if self.method == "pgd":
            verdict = attack_verdict(model, steps=self.attack_steps,
                                     restarts=self.attack_restarts, domain=self.domain)
            index = bisect_grid(_counted(verdict, calls), x, self.grid, batch_size=attack_bs)
            return index, calls[0], 0
        cert = certify_verdict(model, self.method, domain=self.domain, options=self.options,
                               precision=self.precision, batch_size=bound_bs)
        hi = None
        if self.bracket:
            atk = _counted(attack_verdict(model, steps=BRACKET_STEPS, restarts=1,
                                          domain=self.domain), attack_calls)
            # on every stride-th grid point: a bracket a few grid cells looser, in fewer calls
            stride = max(1, math.ceil(self.grid.numel() / BRACKET_POINTS))
            coarse = bisect_grid(atk, x, self.grid[::stride],
                                 batch_size=max(attack_bs, ATTACK_BATCH))
            hi = ((coarse + 1) * stride).clamp(max=self.grid.numel())
        # one verdict call per round: the verdict bounds in chunks of ``bound_bs`` and
        # rechecks the unsure samples of the whole round together in float64
        everyone = max(1, x.shape[0])
        if self.search == "bisection":
            index = bisect_grid(_counted(cert, calls), x, self.grid, batch_size=everyone, hi=hi)
        else:
            parts = range(0, x.shape[0], attack_bs)
            clean = torch.cat([cert.clean_margins(x[s:s + attack_bs]) for s in parts])
            slope = torch.cat([cert.clean_slopes(x[s:s + attack_bs]) for s in parts])
            index = interpolate_grid(_counted(cert.margins, calls), x, self.grid, clean,
                                     slope=slope, batch_size=everyone, hi=hi)
        return index, calls[0], attack_calls[0]


def max_certified_eps(model: nn.Module, x: Tensor, y: Tensor, method: str = "crown", *,
                      eps_max: float = 0.2, tol: float = 1e-4, **kwargs: object) -> Tensor:
    """Per sample, the largest eps (to ``tol``) at which it is certified; 0 if misclassified.

    Certified means robust *and* correctly classified. See :func:`max_robust_eps` for the
    label-free radius (what the ROC and the certificate OOD detector use) and the options.
    """
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise CertkitError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    r = max_robust_eps(model, x, method, eps_max=eps_max, tol=tol, **kwargs)  # type: ignore[arg-type]
    correct = r.pred == y.cpu()
    return torch.where(correct & (r.index >= 0), r.eps, torch.zeros_like(r.eps))


def brute_force_robust(model: nn.Module, x: Tensor, grid: Tensor, method: str = "crown", *,
                       domain: Domain = (0.0, 1.0), batch_size: int | None = None,
                       options: BoundOptions | None = None,
                       precision: str = "mixed", workers: int = 1) -> Tensor:
    """Robust verdicts at every grid point, shape (N, P): one verdict per (sample, eps).

    The (sample, grid point) pairs go to the verdict in order of eps, ``batch_size`` pairs
    per bound call; ``workers`` > 1 spreads the samples over that many processes.
    """
    grid = _check_grid(grid)
    if workers < 1:
        raise CertkitError(f"workers must be >= 1, got {workers}")
    task = BruteForce(grid, method, domain, batch_size, options, precision)
    was_training = model.training
    model.eval()
    try:
        return torch.cat(run_chunked(task, model, x, workers))
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class BruteForce:
    """The grid of :func:`brute_force_robust` for one chunk of samples (picklable)."""

    grid: Tensor
    method: str
    domain: Domain
    batch_size: int | None
    options: BoundOptions | None
    precision: str

    def __call__(self, model: nn.Module, x: Tensor) -> Tensor:
        verdict = certify_verdict(model, self.method, domain=self.domain, options=self.options,
                                  precision=self.precision,
                                  batch_size=self.batch_size or certify_batch(model))
        n, p = x.shape[0], self.grid.numel()
        out = torch.empty(n, p, dtype=torch.bool)
        sample = torch.arange(n).repeat(p)  # pair k: sample k % n at grid point k // n
        for s in range(0, n * p, BRUTE_PAIRS):
            k = torch.arange(s, min(n * p, s + BRUTE_PAIRS))
            ok = verdict(x[sample[k].to(x.device)], self.grid[k // n])
            out[sample[k], k // n] = ok.cpu()
        return out


def monotonicity_violations(robust: Tensor) -> int:
    """Samples whose (N, P) grid verdicts are not monotone (robust again after failing)."""
    r = robust.to(torch.int8)
    return int(((r[:, 1:] - r[:, :-1]) > 0).any(dim=1).sum())
