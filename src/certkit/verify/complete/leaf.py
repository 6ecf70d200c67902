"""An exact leaf solver for input splitting: the MILP on boxes with few unstable ReLUs.

Near a tight spot, input splitting can need very many boxes before CROWN's relaxation
error drops below the margin. Once a box leaves only a few neurons unstable, the MILP
(:mod:`.milp`, with the box's own CROWN intermediate bounds) decides it quickly and
exactly: every group it proves is closed on the box, and an optimum <= 0 is a candidate
counterexample for the :class:`.Checker`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .chain import Chain
from .chain_crown import intermediate
from .counterexample import Checker
from .deadline import Deadline
from .milp import solve_milp
from .result import Counterexample
from .spec import RegionSpec


class MilpLeaf:
    """Solves boxes with at most ``max_unstable`` unstable neurons exactly."""

    def __init__(self, chain: Chain, spec: RegionSpec, checker: Checker, deadline: Deadline,
                 max_unstable: int = 10, time_limit: float = 5.0) -> None:
        self.chain, self.spec, self.checker, self.deadline = chain, spec, checker, deadline
        self.max_unstable, self.time_limit = max_unstable, time_limit
        self.calls = 0

    def __call__(self, lo: Tensor, hi: Tensor,
                 alive: Tensor) -> tuple[Tensor, Counterexample | None]:
        """The groups still open on the box ``[lo, hi]`` (1-D), or a counterexample."""
        with torch.no_grad():
            lows, ups = intermediate(self.chain, lo[None], hi[None])
        alive = alive.clone()
        for g in torch.nonzero(alive).flatten().tolist():
            if self.deadline.expired():
                break
            self.calls += 1
            rows = torch.nonzero(self.spec.group == g).flatten()
            res = solve_milp(self.chain, lo, hi, self.spec.C[rows], self.spec.d[rows],
                             [x[0] for x in lows], [x[0] for x in ups],
                             time_limit=min(self.time_limit, self.deadline.remaining()))
            if res.status == "unsat":
                alive[g] = False
            elif res.status == "candidate" and res.x is not None:
                found = self.checker.check(res.x, self.spec.region)
                if found is not None:
                    return alive, found
        return alive, None
