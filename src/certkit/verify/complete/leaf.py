"""An exact leaf solver for input splitting: the MILP on boxes with few unstable ReLUs.

Near a tight spot, input splitting can need very many boxes before CROWN's relaxation
error drops below the margin. Once a box leaves only a few neurons unstable, the MILP
(:mod:`.milp`, with the box's own CROWN intermediate bounds) decides it quickly and
exactly: every group it proves is closed on the box, and an optimum <= 0 is a candidate
counterexample for the :class:`.Checker`.

A leaf program near 32 unstable neurons costs tenths of a second, a hundred times a CROWN
bound: worth it where CROWN would need a large subtree (ACAS Xu 3_3 property 2), wasted
where a few splits finish the box (1_1 property 5: 7 s with 8 as the limit, 45 s with 32).
So the limit rises with the search's age: from 8 (or less) at the start to
``max_unstable`` after ``ramp_seconds``; searches that end early never pay for big leaves.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from ...bounds.subdomains import SubdomainBounder
from .chain import Chain
from .counterexample import Checker
from .deadline import Deadline
from .milp import solve_milp
from .result import Counterexample
from .spec import RegionSpec


class MilpLeaf:
    """Solves boxes with at most :meth:`limit` unstable neurons exactly."""

    START = 8  # the limit at the start of the search

    def __init__(self, chain: Chain, spec: RegionSpec, checker: Checker, deadline: Deadline,
                 max_unstable: int = 32, time_limit: float = 2.0,
                 ramp_seconds: float = 0.0, bounder: SubdomainBounder | None = None) -> None:
        """``bounder``: the bound engine on the network (default: on ``chain.module()``)."""
        self.chain, self.spec, self.checker, self.deadline = chain, spec, checker, deadline
        self.bounder = bounder or SubdomainBounder(chain.module(), spec.lower[None],
                                                   spec.upper[None])
        self.max_unstable, self.time_limit = max_unstable, time_limit
        self.ramp_seconds = ramp_seconds
        self.started = time.monotonic()
        self.calls = 0

    def limit(self) -> int:
        """The most unstable neurons a box may have to be decided here, now."""
        if self.ramp_seconds <= 0:
            return self.max_unstable
        low = min(self.START, self.max_unstable)
        share = min(1.0, (time.monotonic() - self.started) / self.ramp_seconds)
        return int(low + share * (self.max_unstable - low))

    def __call__(self, lo: Tensor, hi: Tensor,
                 alive: Tensor) -> tuple[Tensor, Counterexample | None]:
        """The groups still open on the box ``[lo, hi]`` (1-D), or a counterexample."""
        bounds = self.bounder.root_bounds(0, box=(lo[None], hi[None]))
        lows, ups = [x for x, _ in bounds], [x for _, x in bounds]
        alive = alive.clone()
        for g in torch.nonzero(alive).flatten().tolist():
            if self.deadline.expired():
                break
            self.calls += 1
            rows = torch.nonzero(self.spec.group == g).flatten()
            res = solve_milp(self.chain, lo, hi, self.spec.C[rows], self.spec.d[rows],
                             [x[0] for x in lows], [x[0] for x in ups],
                             time_limit=min(self.time_limit, self.deadline.remaining()),
                             quick=True)
            if res.status == "unsat":
                alive[g] = False
            elif res.status == "candidate" and res.x is not None:
                found = self.checker.check(res.x, self.spec.region)
                if found is not None:
                    return alive, found
        return alive, None
