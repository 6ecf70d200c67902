"""The boundary of a margin over an eps grid, by safeguarded interpolation (Brent-style).

:func:`certkit.analysis.max_eps.bisect_grid` needs only yes/no verdicts. A bound method
gives more: the lower bound ``m(eps)`` of the margin, a continuous function of eps that is
positive exactly where the sample is certified. Interpolating it finds the boundary in
fewer verdict calls than halving the interval:

* every sample keeps a bracket ``lo < hi`` of grid indices, certified at ``lo`` (``m > 0``,
  or the clean margin ``m(0)`` before any probe) and not at ``hi`` (``m <= 0``, or a grid
  point an attack has broken, where ``m`` is unknown);
* the probe is the first of these estimates that falls strictly inside the bracket: before
  any probe, half the root of the linearised margin ``m(0) + m'(0) eps`` (at most the
  bracket's middle); the root of the inverse quadratic through ``lo``, ``hi`` and the end
  point replaced last (as in Brent's method); with one side probed, the root of the
  quadratic through ``(0, m(0))`` with slope ``m'(0)`` and the probed point; the chord
  through ``lo`` and ``hi``; the secant through the last two certified points. None
  inside: the middle (bisection). The estimate is rounded to the nearest grid index.
  CROWN margins are strongly concave in eps (flat below the boundary, steep above it),
  which defeats the chord alone and suits the quadratics;
* after two steps that moved the same end, the probe is the grid point just past the
  estimate, on the other side of the boundary if the estimate is right;
* a safeguard bisects whenever the last two steps did not halve the bracket, so a sample
  never needs more than about three times the bisection's ``ceil(log2(P + 1))`` calls (on
  margins with jumps or without useful magnitudes; on smooth ones far fewer).

It ends with ``hi = lo + 1`` for every sample, like bisection: for a verdict monotone in
eps both return the same index, the last grid point at which the sample is certified (for a
non-monotone one each returns *a* grid point certified with its successor not, possibly
different ones).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Margins = Callable[[Tensor, Tensor], Tensor]  # (x batch, eps per sample) -> margin (float64)
_F64 = torch.float64
FIRST_FRACTION = 0.5  # first probe: this share of the linearised margin's root
SAFEGUARD_STEPS = 2  # bisect when the bracket did not halve over this many steps


def _fractional_index(grid: Tensor, eps: Tensor) -> Tensor:
    """Position of each ``eps`` on the grid, linear between grid points (float64)."""
    right = torch.searchsorted(grid, eps.contiguous()).clamp(1, grid.numel() - 1)
    left = right - 1
    frac = (eps - grid[left]) / (grid[right] - grid[left])
    return left.to(_F64) + frac


def _probe_index(grid: Tensor, guess: Tensor, streak: Tensor) -> Tensor:
    """The grid index to probe for a root estimate.

    The nearest index, except after two steps that moved the same end of the bracket: then
    the index just past the estimate, away from that end, so the probe lands on the other
    side of the boundary instead of creeping up on it.
    """
    pos = _fractional_index(grid, guess)
    near = pos.round()
    near = torch.where(streak >= 2, pos.floor() + 1, near)  # rising from below
    near = torch.where(streak <= -2, pos.ceil() - 1, near)  # falling from above
    return near.clamp(-1, grid.numel()).to(torch.long)


def _inverse_quadratic(ea: Tensor, fa: Tensor, eb: Tensor, fb: Tensor, ec: Tensor,
                       fc: Tensor) -> Tensor:
    """``e(0)`` of the quadratic ``e(f)`` through three points (Lagrange form)."""
    return (ea * fb * fc / ((fa - fb) * (fa - fc)) + eb * fa * fc / ((fb - fa) * (fb - fc))
            + ec * fa * fb / ((fc - fa) * (fc - fb)))


def _quadratic_root(m0: Tensor, slope: Tensor, e1: Tensor, f1: Tensor) -> Tensor:
    """Root of ``m0 + slope e + c e^2`` through ``(e1, f1)`` (NaN where it has none)."""
    c = (f1 - m0 - slope * e1) / (e1 * e1)
    disc = slope * slope - 4 * c * m0
    root = 2 * m0 / (-slope + disc.clamp(min=0).sqrt())
    ok = (slope < 0) & (disc >= 0) & (e1 > 0) & torch.isfinite(root) & (root > 0)
    return torch.where(ok, root, torch.full_like(root, float("nan")))


def _predict(e_lo: Tensor, f_lo: Tensor, e_hi: Tensor, f_hi: Tensor, e_c: Tensor,
             f_c: Tensor, m0: Tensor, slope: Tensor, e_mid: Tensor) -> Tensor:
    """Root estimate per sample, strictly inside the bracket (NaN: bisect)."""
    known_hi = torch.isfinite(f_hi)
    probed_lo = e_lo > 0
    top = torch.where(known_hi, e_hi, torch.full_like(e_hi, float("inf")))

    def inside(v: Tensor) -> Tensor:
        return torch.isfinite(v) & (v > e_lo) & (v < top)

    distinct = torch.isfinite(f_c) & (f_c != f_lo) & (f_c != f_hi)
    cands = [  # in order of preference; the first one inside the bracket is taken
        # nothing probed yet: a fraction of the linear model's root (an overestimate), at
        # most the middle of the bracket
        torch.where(~known_hi & ~probed_lo & (slope < 0),
                    torch.minimum(FIRST_FRACTION * m0 / -slope, e_mid), torch.nan),
        torch.where(known_hi & distinct,
                    _inverse_quadratic(e_lo, f_lo, e_hi, f_hi, e_c, f_c), torch.nan),
        # one side probed: the quadratic with the clean margin and its slope at eps 0
        torch.where(known_hi != probed_lo,
                    _quadratic_root(m0, slope, torch.where(probed_lo, e_lo, e_hi),
                                    torch.where(probed_lo, f_lo, f_hi)), torch.nan),
        torch.where(known_hi, e_lo + f_lo * (e_hi - e_lo) / (f_lo - f_hi), torch.nan),
        # the secant through the last two certified points, extrapolated
        torch.where(~known_hi & probed_lo & (e_c < e_lo) & (f_c > f_lo),
                    e_lo + f_lo * (e_lo - e_c) / (f_c - f_lo), torch.nan),
    ]
    out = torch.full_like(e_lo, float("nan"))
    for v in reversed(cands):
        out = torch.where(inside(v), v, out)
    return out


def interpolate_grid(margins: Margins, x: Tensor, grid: Tensor, clean: Tensor, *,
                     slope: Tensor | None = None, batch_size: int = 256,
                     hi: Tensor | None = None) -> Tensor:
    """Per sample, the last index of ``grid`` where ``margins > 0`` (-1: none).

    ``clean`` is the margin at eps 0 (float64, per sample): the first certified point of
    every bracket; ``slope`` (optional, <= 0) its derivative in eps there, which shapes the
    first probes. ``hi`` is an index known to fail (default: one past the grid). Each step
    probes every open sample once, in batches of ``batch_size`` sorted by eps.
    """
    n, p = x.shape[0], grid.numel()
    grid = grid.to(_F64)
    lo = torch.full((n,), -1, dtype=torch.long)
    hi = torch.full((n,), p, dtype=torch.long) if hi is None else hi.clone().clamp(0, p)
    m0 = clean.to(_F64)
    e_lo, f_lo = torch.zeros(n, dtype=_F64), m0.clone()
    slope = torch.zeros(n, dtype=_F64) if slope is None else slope.to(_F64)
    e_hi = torch.full((n,), float("nan"), dtype=_F64)
    f_hi = e_hi.clone()
    e_c, f_c = e_hi.clone(), e_hi.clone()  # the end point replaced last
    widths = torch.full((n, SAFEGUARD_STEPS), float("inf"), dtype=_F64)  # last few widths
    streak = torch.zeros(n, dtype=torch.long)  # +k: lo moved k times in a row; -k: hi
    while True:
        active = torch.nonzero(hi - lo > 1).flatten()
        if active.numel() == 0:
            return lo
        a_lo, a_hi = lo[active], hi[active]
        width = (a_hi - a_lo).to(_F64)
        mid = (a_lo + a_hi) // 2
        guess = _predict(e_lo[active], f_lo[active], e_hi[active], f_hi[active],
                         e_c[active], f_c[active], m0[active], slope[active], grid[mid])
        usable = torch.isfinite(guess) & (width <= 0.5 * widths[active, 0])
        k = torch.where(usable, _probe_index(grid, guess.nan_to_num(0.0), streak[active]), mid)
        k = torch.where((a_lo < 0) & (f_lo[active] <= 0), 0, k)  # a tie at eps 0: look there
        k = torch.maximum(torch.minimum(k, a_hi - 1), a_lo + 1)
        order = torch.argsort(k, stable=True)
        active, k = active[order], k[order]
        m = torch.empty(active.numel(), dtype=_F64)
        for s in range(0, active.numel(), batch_size):
            m[s:s + batch_size] = margins(x[active[s:s + batch_size]], grid[k[s:s + batch_size]])
        ok = m > 0
        widths[active] = torch.cat([widths[active, 1:], width[order, None]], dim=1)
        up, down = active[ok], active[~ok]
        streak[up] = streak[up].clamp(min=0) + 1
        streak[down] = streak[down].clamp(max=0) - 1
        e_c[up], f_c[up] = e_lo[up], f_lo[up]
        e_c[down], f_c[down] = e_hi[down], f_hi[down]
        lo[up], e_lo[up], f_lo[up] = k[ok], grid[k[ok]], m[ok]
        hi[down], e_hi[down], f_hi[down] = k[~ok], grid[k[~ok]], m[~ok]
