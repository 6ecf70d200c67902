"""Branch and bound by input splitting, for networks with few inputs (ACAS Xu has 5).

Open boxes live on a stack (depth first keeps it small), each with the groups (disjuncts)
not yet proven safe on it. A round pops a batch of boxes and halves each of them along
every candidate input at once: with ``lookahead`` candidates, all ``2 * lookahead``
children of every box are bounded in one batched call and the split whose children are
together closest to a proof is kept (the sum of their distances, a proven child counting
zero; its children's bounds are reused, so a round costs ``lookahead`` times a plain split
and buys a much smaller tree). Candidates are the inputs
with the largest "smear" score ``|d/dx_j C_r f(centre)| * width_j`` for the most promising
row ``r`` of the box's hardest group. Kept children drop the groups their bounds prove;
their centres, and the corners that minimise their linear lower bound of that row, are
tried as counterexamples (confirmed in onnxruntime). The batch size
adapts so that one round takes about ``round_seconds``, which bounds how far the deadline
can be overrun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .attack import Screener
from .bounders import Bounder
from .counterexample import Checker
from .deadline import Deadline
from .leaf import MilpLeaf
from .result import Counterexample
from .spec import RegionSpec


@dataclass
class BabOutcome:
    """``unsat``, ``sat`` (with ``counterexample``), ``timeout`` or ``unknown``."""

    status: str
    counterexample: Counterexample | None = None
    stats: dict[str, float] = field(default_factory=dict)


def merge_stats(stats: dict[str, float], more: dict[str, float]) -> None:
    """Add the counters ``more`` into ``stats``."""
    for k, v in more.items():
        stats[k] = stats.get(k, 0) + v


def _quality(spec: RegionSpec, lbm: Tensor, alive: Tensor) -> Tensor:
    """How close a box is to a proof: min over its open groups of the best row bound."""
    return spec.group_max(lbm).masked_fill(~alive, float("inf")).amin(dim=1)


def _hardest_row(spec: RegionSpec, lbm: Tensor, alive: Tensor) -> Tensor:
    """Each box's most promising row (N,): the one closest to proof (largest bound) in its
    open group farthest from a proof."""
    best = spec.group_max(lbm).masked_fill(~alive, float("inf"))
    in_group = spec.group.unsqueeze(0) == best.argmin(dim=1).unsqueeze(1)
    return lbm.masked_fill(~in_group, -float("inf")).argmax(dim=1)


def _smear(model: nn.Module, spec: RegionSpec, lo: Tensor, hi: Tensor, lbm: Tensor,
           alive: Tensor) -> Tensor:
    """Smear scores (N, n_in) on the most promising row of each box's hardest group."""
    row = _hardest_row(spec, lbm, alive)
    x = ((lo + hi) / 2).requires_grad_(True)
    with torch.enable_grad():
        m = spec.margins(model(x)).gather(1, row[:, None]).sum()
        (g,) = torch.autograd.grad(m, x)
    width = hi - lo
    return g.abs() * width + 1e-12 * width  # all-zero gradients: the widest input


class _Stack:
    """Boxes with their open groups, row bounds and intermediate bounds (lower, upper),
    popped from the end."""

    def __init__(self, *part: Tensor) -> None:
        self.parts = [part]

    def __len__(self) -> int:
        return sum(p[0].shape[0] for p in self.parts)

    def push(self, *part: Tensor) -> None:
        if part[0].shape[0]:
            self.parts.append(part)

    def pop(self, k: int) -> tuple[Tensor, ...]:
        cat = [torch.cat(t) for t in zip(*self.parts, strict=True)]
        self.parts = [tuple(t[:-k] for t in cat)]
        return tuple(t[-k:] for t in cat)


def input_bab(model: nn.Module, spec: RegionSpec, bounder: Bounder, checker: Checker,
              deadline: Deadline, *, lookahead: int = 0, round_seconds: float = 0.3,
              max_batch: int = 8192, min_width: float = 1e-9,
              leaf: MilpLeaf | None = None, screener: Screener | None = None) -> BabOutcome:
    """Prove the region safe or find a counterexample by splitting its box.

    ``lookahead``: inputs tried per split (0: one, by smear score; at most ``n_in``).
    ``leaf``: exact solver for boxes the bounder reports with few unstable neurons.
    ``screener``: random points of the whole box checked once per round.
    """
    dtype = spec.lower.dtype
    C, d = spec.C.to(dtype), spec.d.to(dtype)
    n_in = spec.lower.numel()
    k = max(1, min(lookahead, n_in))
    lo, hi = spec.lower[None], spec.upper[None]
    lbm = bounder.lower(lo, hi, C) - d
    alive = ~spec.proven(lbm + d)
    stats = {"domains": 1, "rounds": 0, "peak_queue": 1, "proven_volume": 0.0}
    span = spec.upper - spec.lower
    fixed = span <= 0  # a fixed input: its width counts as full
    none = torch.zeros(1, 0, dtype=dtype)
    inter = bounder.intermediate or (none, none)
    stack = _Stack(lo, hi, alive, lbm, *inter)
    if not bool(alive.any()):
        stats["proven_volume"] = 1.0
        return BabOutcome("unsat", stats=stats)
    batch, per_child, dropped = 1, None, 0
    while len(stack):
        if deadline.expired():
            return BabOutcome("timeout", stats=stats)
        t0 = time.monotonic()
        lo, hi, alive, lbm, ilo, ihi = stack.pop(min(batch, len(stack)))
        n = lo.shape[0]
        with torch.no_grad():
            score = _smear(model, spec, lo, hi, lbm, alive)
        dims = score.topk(k, dim=1).indices  # (n, k)
        rows = torch.arange(n).repeat_interleave(k)
        flat = dims.reshape(-1)
        mid = (lo[rows, flat] + hi[rows, flat]) / 2
        left_hi, right_lo = hi[rows].clone(), lo[rows].clone()
        left_hi[torch.arange(n * k), flat] = mid
        right_lo[torch.arange(n * k), flat] = mid
        c_lo = torch.cat([lo[rows], right_lo])
        c_hi = torch.cat([left_hi, hi[rows]])
        # a child's box lies in its parent's: the parent's bound holds there too (CROWN
        # is not monotone in the box, so this can be tighter)
        # so do its intermediate bounds, which spare back-substituting what they decide
        prior = None if ilo.shape[1] == 0 else (ilo[rows].repeat(2, 1), ihi[rows].repeat(2, 1))
        c_lbm = torch.maximum(bounder.lower(c_lo, c_hi, C, prior) - d, lbm[rows].repeat(2, 1))
        c_ilo, c_ihi = bounder.intermediate or (none.expand(2 * n * k, 0),) * 2
        counts = getattr(bounder, "unstable_counts", None)
        c_alive = alive[rows].repeat(2, 1) & ~spec.proven(c_lbm + d)
        # a split's value: the children's distances from a proof (a proven child counts 0)
        q = _quality(spec, c_lbm, c_alive).clamp(max=0).view(2, n, k).sum(dim=0)
        rel = (hi - lo).gather(1, dims) / (spec.upper - spec.lower).clamp(min=1e-12)[dims]
        pick = torch.arange(n) * k + (q + 1e-9 * rel).argmax(dim=1)
        sel = torch.cat([pick, pick + n * k])
        c_lo, c_hi, c_alive, c_lbm = c_lo[sel], c_hi[sel], c_alive[sel], c_lbm[sel]
        c_ilo, c_ihi = c_ilo[sel], c_ihi[sel]
        lam = bounder.coefficients[sel] if bounder.coefficients is not None else None
        if leaf is not None and counts is not None:
            small = torch.nonzero(c_alive.any(dim=1) & (counts[sel] <= leaf.limit()))
            for i in small.flatten().tolist():
                c_alive[i], found = leaf(c_lo[i], c_hi[i], c_alive[i])
                if found is not None:
                    return BabOutcome("sat", found, stats)
                if deadline.expired():
                    break
        stats["domains"] += 2 * n * k
        stats["rounds"] += 1
        closed = ~c_alive.any(dim=1)
        share = torch.where(fixed, 1.0, (c_hi[closed] - c_lo[closed]) / span.clamp(min=1e-300))
        stats["proven_volume"] += float(share.prod(dim=1).sum())
        keep = ~closed & ((c_hi - c_lo).amax(dim=1) > min_width)
        dropped += int((c_alive.any(dim=1) & ~keep).sum())
        c_lo, c_hi, c_alive, c_lbm = c_lo[keep], c_hi[keep], c_alive[keep], c_lbm[keep]
        c_ilo, c_ihi = c_ilo[keep], c_ihi[keep]
        found = _try_centres(model, spec, checker, c_lo, c_hi, c_alive)
        if found is None and lam is not None:
            found = _try_vertices(model, spec, checker, c_lo, c_hi, c_alive, c_lbm,
                                  lam[keep])
        if found is None and screener is not None:
            found = screener.step()
        if found is not None:
            return BabOutcome("sat", found, stats)
        stack.push(c_lo, c_hi, c_alive, c_lbm, c_ilo, c_ihi)
        stats["peak_queue"] = max(stats["peak_queue"], len(stack))
        spent = (time.monotonic() - t0) / (2 * n * k)
        per_child = spent if per_child is None else 0.7 * per_child + 0.3 * spent
        batch = int(max(1, min(max_batch, round_seconds / max(per_child, 1e-7) / (2 * k))))
    return BabOutcome("unknown" if dropped else "unsat", stats=stats)


def _try_vertices(model: nn.Module, spec: RegionSpec, checker: Checker, lo: Tensor,
                  hi: Tensor, alive: Tensor, lbm: Tensor, lam: Tensor
                  ) -> Counterexample | None:
    """A confirmed counterexample among the corners that minimise each box's linear lower
    bound (input coefficients ``lam``, (N, m, n_in)) of its hardest row: where that bound
    is negative, the network is most likely to follow it."""
    if lo.shape[0] == 0:
        return None
    a = lam[torch.arange(lo.shape[0]), _hardest_row(spec, lbm, alive)]  # (N, n_in)
    return _try_points(model, spec, checker, torch.where(a > 0, lo, hi), alive)


def _try_centres(model: nn.Module, spec: RegionSpec, checker: Checker, lo: Tensor, hi: Tensor,
                 alive: Tensor) -> Counterexample | None:
    """A confirmed counterexample among the boxes' centres, if any."""
    if lo.shape[0] == 0:
        return None
    return _try_points(model, spec, checker, (lo + hi) / 2, alive)


def _try_points(model: nn.Module, spec: RegionSpec, checker: Checker, x: Tensor,
                alive: Tensor) -> Counterexample | None:
    """A confirmed counterexample among points ``x`` (one per box) violating an open group
    of their box (at most 4 checked)."""
    with torch.no_grad():
        viol = spec.violation(model(x))
    cand = ((viol <= 0) & alive).any(dim=1)
    if not bool(cand.any()):
        return None
    return checker.check(x[cand].numpy(), spec.region, limit=4)
