"""CROWN on a :class:`~.chain.Chain` for many subdomains at once, with ReLU split constraints.

A subdomain is an input box plus a split state per hidden neuron: ``+1`` (constrained
active, ``z >= 0``), ``-1`` (inactive, ``z <= 0``) or ``0`` (free). Split neurons use the
pre-activation bounds clamped to their side, so their ReLU is exact. Lower bounds of rows
``Lambda z`` are back-substituted to the input: through a ReLU with bounds ``l < 0 < u``
positive coefficients take the lower relaxation ``alpha z`` (``alpha`` in [0, 1]),
negative ones the chord ``u (z - l) / (u - l)``. As in beta-CROWN (Wang et al. 2021), a
split constraint enters with a multiplier ``beta >= 0``: for ``z >= 0`` the objective
``g`` satisfies ``g >= g - beta z`` on the subdomain, for ``z <= 0`` ``g >= g + beta z``,
so every ``alpha`` in [0, 1] and ``beta >= 0`` gives a sound bound; :func:`optimized_bound`
maximises over them with Adam. Everything is float64 (see :mod:`.bounders`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ...bounds.adam import Adam
from .chain import Chain


@dataclass
class Relax:
    """ReLU relaxation of one layer for N subdomains: ``alpha z <= a <= slope z + icpt``."""

    alpha: Tensor  # (N, 1, n) default lower slopes
    slope: Tensor  # (N, 1, n)
    icpt: Tensor  # (N, 1, n)
    unstable: Tensor  # (N, n) bool
    sign: Tensor  # (N, 1, n): -1 active split, +1 inactive split, 0 free (beta direction)

    def take(self, index: Tensor) -> Relax:
        """The relaxation of a subset of the subdomains."""
        return Relax(self.alpha[index], self.slope[index], self.icpt[index],
                     self.unstable[index], self.sign[index])


def clamp_splits(lo: Tensor, up: Tensor, split: Tensor | None) -> tuple[Tensor, Tensor]:
    """Pre-activation bounds with split neurons clamped to their side."""
    if split is None:
        return lo, up
    return (torch.where(split > 0, lo.clamp(min=0), lo),
            torch.where(split < 0, up.clamp(max=0), up))


def relax(lo: Tensor, up: Tensor, split: Tensor | None) -> Relax:
    """CROWN's relaxation of ``relu`` on ``[lo, up]`` (N, n), splits applied."""
    lo, up = clamp_splits(lo, up, split)
    active = lo >= 0
    unstable = (lo < 0) & (up > 0)
    width = torch.where(unstable, up - lo, torch.ones_like(up))
    slope = torch.where(unstable, up / width, active.to(up.dtype))
    icpt = torch.where(unstable, -slope * lo, torch.zeros_like(up))
    alpha = torch.where(unstable, (up > -lo).to(up.dtype), active.to(up.dtype))
    sign = torch.zeros_like(up) if split is None else -split.to(up.dtype)
    return Relax(alpha[:, None], slope[:, None], icpt[:, None], unstable, sign[:, None])


def backward(chain: Chain, start: int, rows: Tensor, relaxes: list[Relax], lo: Tensor,
             hi: Tensor, alphas: list[Tensor] | None = None,
             betas: list[Tensor] | None = None) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Lower bounds of ``rows @ z_start`` (rows: (N, R, n_start)) over the subdomains.

    Returns the bounds (N, R), their coefficients on the input (N, R, n_in) and the
    coefficients on every hidden layer's post-activation ``a_j`` (N, R, n_j), j < start.
    """
    lam = rows
    bias = lam @ chain.biases[start]
    lam = chain.back(start, lam)
    coeffs: list[Tensor] = []
    for j in range(start - 1, -1, -1):
        coeffs.append(lam)
        r = relaxes[j]
        alpha = r.alpha if alphas is None else torch.where(
            r.unstable[:, None], alphas[j].clamp(0, 1), r.alpha)
        neg = lam.clamp(max=0)
        bias = bias + (neg @ r.icpt.transpose(1, 2))[..., 0]  # (a product: faster than a sum)
        lam = lam.clamp(min=0) * alpha + neg * r.slope
        if betas is not None:
            lam = lam + betas[j].clamp(min=0) * r.sign
        bias = bias + lam @ chain.biases[j]
        lam = chain.back(j, lam)
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    lb = bias + (lam @ mid[:, :, None])[..., 0] - (lam.abs() @ rad[:, :, None])[..., 0]
    return lb, lam, coeffs[::-1]


def interval_next(chain: Chain, k: int, lo: Tensor, up: Tensor) -> tuple[Tensor, Tensor]:
    """Interval bounds of layer ``k``'s pre-activations from layer ``k - 1``'s (N, n)."""
    a, c = lo.clamp(min=0), up.clamp(min=0)
    mid = chain.lin(k, (a + c) / 2) + chain.biases[k]
    rad = chain.lin_abs(k, (c - a) / 2)
    return mid - rad, mid + rad


def intermediate(chain: Chain, lo: Tensor, hi: Tensor, splits: list[Tensor] | None = None,
                 full: bool = True) -> tuple[list[Tensor], list[Tensor]]:
    """CROWN pre-activation bounds of every hidden layer (each (N, n_k)), intersected with
    interval bounds; ``splits`` clamp the bounds of split neurons as they are used.

    With ``full`` every neuron is back-substituted, not only those the interval bounds
    leave unstable: their tighter bounds tighten the interval bounds of the next layer,
    which often decides more neurons there (markedly tighter on ACAS Xu).
    """
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    centre, spread = chain.lin(0, mid) + chain.biases[0], chain.lin_abs(0, rad)
    lows, ups = [centre - spread], [centre + spread]
    relaxes: list[Relax] = []
    for k in range(1, len(chain.hidden)):
        s = None if splits is None else splits[k - 1]
        relaxes.append(relax(lows[-1], ups[-1], s))
        pl, pu = clamp_splits(lows[-1], ups[-1], s)
        il, iu = interval_next(chain, k, pl, pu)
        lows.append(il)
        ups.append(iu)
        _tighten(chain, k, relaxes, lo, hi, lows, ups, full)
    return lows, ups


def forward_intermediate(chain: Chain, lo: Tensor, hi: Tensor,
                         prior: tuple[list[Tensor], list[Tensor]] | None = None
                         ) -> tuple[list[Tensor], list[Tensor]]:
    """Pre-activation bounds of every hidden layer (each (N, n_k)) for networks with few
    inputs: linear lower and upper bounds in the inputs carried forward layer by layer (the
    symbolic intervals of ReluVal/Neurify with CROWN's ReLU relaxation, ``n_in + 1``
    numbers per bound), then CROWN back-substitution for the neurons they leave unstable.

    A neuron the forward bounds prove stable is stable; for the others the back-substituted
    bound is the one :func:`intermediate` computes, so the result is at least as tight on
    the neurons that matter, for a fraction of the cost once most neurons are stable.

    ``prior``: bounds (each (N, n_k)) known to hold on the boxes, e.g. those of the box a
    box was split from; they are intersected in before back-substitution, so neurons they
    show stable are not back-substituted again (and the bounds are never looser than them).
    """
    w, b = chain.weights[0], chain.biases[0]
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    n = lo.shape[0]
    a_lo, a_hi = w.expand(n, -1, -1), w.expand(n, -1, -1)  # (N, n_k, n_in)
    c_lo, c_hi = b.expand(n, -1), b.expand(n, -1)  # (N, n_k)
    lows: list[Tensor] = []
    ups: list[Tensor] = []
    relaxes: list[Relax] = []
    for k in range(len(chain.hidden)):
        if k:
            r = relaxes[-1]  # post-activation bounds of layer k-1, then through W_k
            alpha, slope = r.alpha[:, 0, :, None], r.slope[:, 0, :, None]
            pl, pc = alpha * a_lo, r.alpha[:, 0] * c_lo
            ul, uc = slope * a_hi, r.slope[:, 0] * c_hi + r.icpt[:, 0]
            wp, wn = chain.weights[k].clamp(min=0), chain.weights[k].clamp(max=0)
            a_lo, a_hi = wp @ pl + wn @ ul, wp @ ul + wn @ pl
            c_lo = pc @ wp.T + uc @ wn.T + chain.biases[k]
            c_hi = uc @ wp.T + pc @ wn.T + chain.biases[k]
        spread_lo = (a_lo.abs() @ rad[:, :, None])[..., 0]
        spread_hi = (a_hi.abs() @ rad[:, :, None])[..., 0]
        lows.append((a_lo @ mid[:, :, None])[..., 0] + c_lo - spread_lo)
        ups.append((a_hi @ mid[:, :, None])[..., 0] + c_hi + spread_hi)
        if k:  # intersect with interval arithmetic on the previous layer's final bounds
            il, iu = interval_next(chain, k, lows[k - 1], ups[k - 1])
            lows[k], ups[k] = torch.maximum(lows[k], il), torch.minimum(ups[k], iu)
        if prior is not None:
            lows[k] = torch.maximum(lows[k], prior[0][k])
            ups[k] = torch.minimum(ups[k], prior[1][k])
        if k > 1:  # (layer 1's forward bounds are its back-substituted ones: same form)
            _tighten(chain, k, relaxes, lo, hi, lows, ups, False)
        relaxes.append(relax(lows[k], ups[k], None))
    return lows, ups


def refresh(chain: Chain, lo: Tensor, hi: Tensor, lows: list[Tensor], ups: list[Tensor],
            splits: list[Tensor], start: int) -> tuple[list[Tensor], list[Tensor]]:
    """Pre-activation bounds of the layers after ``start`` recomputed under the split
    constraints (CROWN for the neurons interval bounds leave unstable), intersected with the
    given bounds, which stay valid on every subdomain."""
    lows, ups = list(lows), list(ups)
    relaxes = [relax(lows[j], ups[j], splits[j]) for j in range(start + 1)]
    for k in range(start + 1, len(chain.hidden)):
        pl, pu = clamp_splits(lows[k - 1], ups[k - 1], splits[k - 1])
        il, iu = interval_next(chain, k, pl, pu)
        lows[k], ups[k] = torch.maximum(il, lows[k]), torch.minimum(iu, ups[k])
        _tighten(chain, k, relaxes, lo, hi, lows, ups, False)
        relaxes.append(relax(lows[k], ups[k], splits[k]))
    return lows, ups


def optimized_intermediate(chain: Chain, lo: Tensor, hi: Tensor, lows: list[Tensor],
                           ups: list[Tensor], iterations: int = 20, lr: float = 0.1,
                           stop: Callable[[], bool] | None = None
                           ) -> tuple[list[Tensor], list[Tensor]]:
    """alpha-CROWN for the unstable neurons of every hidden layer (one box, N = 1): each
    bound row gets its own lower slopes, optimised with Adam; the results are intersected
    with the given bounds, layer by layer (later layers use the tightened ones). ``stop()``
    ends the optimisation early (the bounds so far are kept; all are sound)."""
    lows, ups = list(lows), list(ups)
    for k in range(1, len(chain.hidden)):
        if stop is not None and stop():
            break
        relaxes = [relax(lows[j], ups[j], None) for j in range(k)]
        mask = ((lows[k] < 0) & (ups[k] > 0))[0]
        idx = torch.nonzero(mask).flatten()
        u = idx.numel()
        if u == 0 or iterations <= 0:
            continue
        rows = torch.zeros(1, 2 * u, lows[k].shape[1], dtype=lo.dtype)
        rows[0, torch.arange(u), idx] = 1.0
        rows[0, u + torch.arange(u), idx] = -1.0
        alphas = [r.alpha.expand(-1, 2 * u, -1).clone().requires_grad_(True) for r in relaxes]
        opt = Adam(alphas, [lr] * len(alphas))
        best = torch.full((1, 2 * u), -float("inf"), dtype=lo.dtype)
        for _ in range(iterations):
            with torch.enable_grad():
                lb, _, _ = backward(chain, k, rows, relaxes, lo, hi, alphas)
                grads = torch.autograd.grad(-lb.sum(), alphas, allow_unused=True)
            with torch.no_grad():
                best = torch.maximum(best, lb)
                opt.step(grads)
            if stop is not None and stop():
                break
        lows[k] = lows[k].clone()
        ups[k] = ups[k].clone()
        lows[k][0, idx] = torch.maximum(lows[k][0, idx], best[0, :u].detach())
        ups[k][0, idx] = torch.minimum(ups[k][0, idx], -best[0, u:].detach())
    return lows, ups


def _tighten(chain: Chain, k: int, relaxes: list[Relax], lo: Tensor, hi: Tensor,
             lows: list[Tensor], ups: list[Tensor], full: bool) -> None:
    """Back-substitute the neurons of layer ``k`` (all, or those interval bounds leave
    unstable) and intersect their bounds with the interval bounds."""
    il, iu = lows[k], ups[k]
    if full:
        n = il.shape[1]
        eye = torch.eye(n, dtype=il.dtype)
        lb, _, _ = backward(chain, k, torch.cat([eye, -eye]).expand(il.shape[0], -1, -1),
                            relaxes, lo, hi)
        lows[k], ups[k] = torch.maximum(il, lb[:, :n]), torch.minimum(iu, -lb[:, n:])
        return
    mask = (il < 0) & (iu > 0)
    if not bool(mask.any()):
        return
    parts = _buckets(mask.sum(1))
    if parts is None:
        lows[k], ups[k] = _back_substitute(chain, k, relaxes, lo, hi, il, iu, mask)
        return
    lows[k], ups[k] = il.clone(), iu.clone()
    for p in parts:
        lows[k][p], ups[k][p] = _back_substitute(chain, k, [r.take(p) for r in relaxes],
                                                 lo[p], hi[p], il[p], iu[p], mask[p])


def _back_substitute(chain: Chain, k: int, relaxes: list[Relax], lo: Tensor, hi: Tensor,
                     il: Tensor, iu: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``il``/``iu`` with the neurons of ``mask`` back-substituted (rows padded to the
    largest count of the batch)."""
    counts = mask.sum(1)
    u = int(counts.max())
    idx = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :u]  # (N, U)
    onehot = torch.zeros(il.shape[0], u, il.shape[1], dtype=il.dtype)
    onehot.scatter_(2, idx[..., None], 1.0)
    lb, _, _ = backward(chain, k, torch.cat([onehot, -onehot], 1), relaxes, lo, hi)
    valid = torch.arange(u)[None] < counts[:, None]
    pl, pu = il.gather(1, idx), iu.gather(1, idx)
    pl = torch.where(valid, torch.maximum(pl, lb[:, :u]), pl)
    pu = torch.where(valid, torch.minimum(pu, -lb[:, u:]), pu)
    return il.scatter(1, idx, pl), iu.scatter(1, idx, pu)


def _buckets(counts: Tensor, small: int = 32) -> list[Tensor] | None:
    """The boxes (indices) in two batches by their number of unstable neurons, so that
    padding every box's rows to its batch's largest count wastes the least: the boxes
    sorted by count and cut where the padded total is smallest. None (one batch) when
    there are few boxes or the cut saves under a fifth."""
    n = counts.numel()
    if n < small:
        return None
    order = torch.argsort(counts)
    c = counts[order].to(torch.float64)
    i = torch.arange(1, n)
    cost = i * c[:-1] + (n - i) * c[-1]  # first batch order[:i], padded to c[i - 1]
    best = int(cost.argmin())
    if float(cost[best]) > 0.8 * n * float(c[-1]):
        return None
    return [order[:best + 1], order[best + 1:]]


def output_bound(chain: Chain, lo: Tensor, hi: Tensor, C: Tensor, lows: list[Tensor],
                 ups: list[Tensor], splits: list[Tensor] | None = None,
                 alphas: list[Tensor] | None = None, betas: list[Tensor] | None = None
                 ) -> tuple[Tensor, Tensor, list[Tensor], list[Relax]]:
    """Lower bounds (N, m) of ``C y``, their input coefficients and per-layer coefficients."""
    relaxes = [relax(lows[j], ups[j], None if splits is None else splits[j])
               for j in range(len(chain.hidden))]
    rows = C.expand(lo.shape[0], -1, -1) if C.dim() == 2 else C
    lb, lam, coeffs = backward(chain, len(chain.biases) - 1, rows, relaxes, lo, hi, alphas,
                               betas)
    return lb, lam, coeffs, relaxes


def optimized_bound(chain: Chain, lo: Tensor, hi: Tensor, C: Tensor, lows: list[Tensor],
                    ups: list[Tensor], splits: list[Tensor] | None = None, *,
                    iterations: int = 20, lr_alpha: float = 0.1, lr_beta: float = 0.05,
                    use_beta: bool = True, init: tuple[Tensor, Tensor] | None = None,
                    keep: list[tuple[Tensor, Tensor]] | None = None
                    ) -> tuple[Tensor, Tensor, list[Tensor]]:
    """alpha(-beta)-CROWN: the best bounds over Adam's iterates (never worse than CROWN).

    Returns the bounds (N, m), the input coefficients and per-layer coefficients of the
    CROWN pass (used for branching heuristics and primal candidates). ``init``: starting
    ``(alphas, betas)``, each (N, m, total hidden) as a list ``keep`` receives them (the
    best iterate of every row), so children of a subdomain start where their parent ended
    (beta-CROWN's warm start); entries of unstable neurons / split neurons are used.
    """
    lb0, lam0, coeffs0, relaxes = output_bound(chain, lo, hi, C, lows, ups, splits)
    m = lb0.shape[1]
    sizes = chain.hidden
    if iterations <= 0 or not any(bool(r.unstable.any()) or bool((r.sign != 0).any())
                                  for r in relaxes):
        if keep is not None:
            keep.append(_flat_state(relaxes, m, None, None) if init is None else init)
        return lb0, lam0, coeffs0
    if init is None:
        alphas = [r.alpha.expand(-1, m, -1).clone() for r in relaxes]
        start_betas = None
    else:
        alphas = [a.clone() for a in torch.split(init[0], sizes, dim=2)]
        start_betas = [b.clone() for b in torch.split(init[1], sizes, dim=2)]
    for a in alphas:
        a.requires_grad_(True)
    params, rates = list(alphas), [lr_alpha] * len(alphas)
    betas = None
    if use_beta and splits is not None:
        betas = (start_betas if start_betas is not None else
                 [torch.zeros_like(a) for a in alphas])
        for b in betas:
            b.requires_grad_(True)
        params += betas
        rates += [lr_beta] * len(betas)
    opt = Adam(params, rates)
    best, best_lam = lb0.detach().clone(), lam0
    best_state = _flat_state(relaxes, m, alphas, betas)
    rows = C.expand(lo.shape[0], -1, -1) if C.dim() == 2 else C
    for _ in range(iterations):
        with torch.enable_grad():
            lb, lam, _ = backward(chain, len(chain.biases) - 1, rows, relaxes, lo, hi, alphas,
                                  betas)
            grads = torch.autograd.grad(-lb.sum(), params, allow_unused=True)
        with torch.no_grad():
            better = lb > best
            best = torch.where(better, lb, best)
            best_lam = torch.where(better[..., None], lam, best_lam)
            if keep is not None:
                now = _flat_state(relaxes, m, alphas, betas)
                best_state = (torch.where(better[..., None], now[0], best_state[0]),
                              torch.where(better[..., None], now[1], best_state[1]))
            opt.step(grads)
    if keep is not None:
        keep.append(best_state)
    return best.detach(), best_lam.detach(), coeffs0


def _flat_state(relaxes: list[Relax], m: int, alphas: list[Tensor] | None,
                betas: list[Tensor] | None) -> tuple[Tensor, Tensor]:
    """Lower slopes (projected on [0, 1]) and betas (>= 0) as (N, m, total) tensors."""
    with torch.no_grad():
        if alphas is None:
            a = torch.cat([r.alpha.expand(-1, m, -1) for r in relaxes], 2)
        else:
            a = torch.cat([x.detach().clamp(0, 1) for x in alphas], 2)
        b = torch.zeros_like(a) if betas is None else torch.cat(
            [x.detach().clamp(min=0) for x in betas], 2)
    return a, b
