"""Branch and bound by ReLU splitting, for networks with many inputs (mnist_fc has 784).

Every bound comes from the bound engine (:class:`~certkit.bounds.subdomains.
SubdomainBounder`). The root gets CROWN bounds for every hidden neuron over the box,
tightened by alpha-CROWN per neuron; they are shared by the groups (disjuncts) of the
region, which are searched one at a time. A subdomain is a set of split decisions (neuron
``z >= 0`` or ``z <= 0``), bounded by alpha-beta-CROWN warm-started from its parent, with
the root's intermediate bounds clamped by its splits (with ``refresh``, the default past
two hidden layers of at most ``REFRESH_NEURONS`` neurons: recomputed under the splits,
tighter and dearer; a child starts from its parent's recomputed bounds, which hold on it,
and recomputes only the layers after the one it was split in). A child keeps its
parent's bound where that is better (it lies in the parent's subdomain).

Each round pops a batch of open subdomains (depth first), splits each at the neuron with
the largest BaBSR-like score ``|lambda_i| * (-u_i l_i) / (u_i - l_i)`` (``lambda_i``: the
neuron's coefficient in the bound of the most promising row; the product is the
relaxation's intercept), or with ``candidates`` > 1 by filtered smart branching over the
best-scored neurons (:meth:`ReluBab.filtered_choice`), and bounds both children
together. The input that minimises a child's linear bound is tried as a counterexample
(confirmed in onnxruntime). A subdomain with at most ``leaf_unstable`` unstable neurons
left goes to the MILP (:mod:`.milp`), which proves it (dual bound above its margin) or
yields a candidate counterexample.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor, nn

from ...bounds.subdomains import State, SubdomainBounder, SubdomainBounds
from .chain import Chain
from .conv_map import ConvMap
from .counterexample import Checker
from .deadline import Deadline
from .input_bab import BabOutcome, merge_stats
from .milp import solve_milp
from .parallel import Workers
from .refine import refine_bounds
from .spec import RegionSpec

REFRESH_NEURONS = 2048  # default refresh: networks with at most this many hidden neurons


def _scores(res: SubdomainBounds, row: Tensor) -> Tensor:
    """Branching scores of every hidden neuron (N, total); -1 for neurons not to split."""
    out = []
    for lam, icpt, unstable in zip(res.relu_rows, res.intercepts, res.unstable, strict=True):
        a = lam.gather(1, row[:, None, None].expand(-1, 1, lam.shape[2])).squeeze(1)
        s = a.abs() * icpt + 1e-9 * icpt
        out.append(torch.where(unstable, s, torch.full_like(s, -1.0)))
    return torch.cat(out, 1)


# an open batch: splits, branching choices, unstable counts, lower bounds, alphas, betas,
# and the ReLU inputs' bounds (N, hidden) each, or (N, 0) when the root's are used
Entry = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def deal(stack: list[Entry], parts: int) -> list[list[Entry]]:
    """The open subdomains of ``stack`` dealt round robin into ``parts`` stacks (deep and
    shallow domains spread evenly); empty parts are left out."""
    every = [torch.cat(t) for t in zip(*stack, strict=True)]
    out = []
    for p in range(parts):
        part = tuple(t[p::parts] for t in every)
        if part[0].shape[0]:
            out.append([part])
    return out  # type: ignore[return-value]


def _split(splits: Tensor, choice: Tensor) -> Tensor:
    """Two children per domain: the chosen neuron fixed active (+1) and inactive (-1)."""
    n = splits.shape[0]
    kids = splits.repeat(2, 1)
    idx = torch.arange(2 * n)
    kids[idx, choice.repeat(2)] = torch.cat([torch.ones(n), -torch.ones(n)]).to(kids.dtype)
    return kids


class ReluBab:
    """The search for one group of rows ``C y <= d`` over one box."""

    def __init__(self, chain: Chain, model: nn.Module, spec: RegionSpec, rows: Tensor,
                 checker: Checker, bounds: tuple[list[Tensor], list[Tensor]], *,
                 iterations: int = 10, leaf_unstable: int = 12, round_seconds: float = 0.5,
                 refresh: bool | None = None, candidates: int = 1,
                 bounder: SubdomainBounder | None = None) -> None:
        self.chain, self.model, self.spec, self.checker = chain, model, spec, checker
        self.bounder = bounder or SubdomainBounder(model, spec.lower[None], spec.upper[None])
        self.candidates = candidates
        self.C, self.d = spec.C[rows], spec.d[rows]
        self.lo, self.hi = spec.lower[None], spec.upper[None]
        self.iterations, self.leaf_unstable = iterations, leaf_unstable
        self.round_seconds = round_seconds
        self.lows, self.ups = bounds
        # refresh intermediate bounds under the splits: on by default past two hidden layers
        # of at most REFRESH_NEURONS neurons in all (mnist_fc 256x4 prop_0_0.03: every group
        # proven in <= 3 s, without: 7 of 9 open after 25 s; 256x2 prop_1_0.03: 2 of 9
        # groups proven in 20 s, without: 5 of 9; oval21 cifar_base_kw img8194, 3172
        # neurons: unsat in 65 s without, 1373 domains and no verdict in 120 s with)
        self.refresh = (len(chain.hidden) > 2 and sum(chain.hidden) <= REFRESH_NEURONS
                        if refresh is None else refresh)
        self.sizes = chain.hidden
        self._ends = torch.tensor(self.sizes).cumsum(0)  # one past each layer's last neuron
        self.stats: dict[str, float] = {"domains": 0, "rounds": 0, "milp": 0}

    def _layers(self, flat: Tensor) -> list[Tensor]:
        return list(torch.split(flat, self.sizes, dim=1))

    def _given(self, n: int, pre: tuple[Tensor, Tensor] | None = None
               ) -> list[tuple[Tensor, Tensor]]:
        """The ReLU inputs' bounds of ``n`` subdomains: ``pre`` (flat, (n, hidden) each,
        from the domains they were split from) or the root's."""
        if pre is None or pre[0].shape[1] == 0:
            return [(lo.expand(n, -1), hi.expand(n, -1))
                    for lo, hi in zip(self.lows, self.ups, strict=True)]
        return list(zip(self._layers(pre[0]), self._layers(pre[1]), strict=True))

    def layer_of(self, neuron: Tensor) -> Tensor:
        """The ReLU layer (index) of each flat neuron index in ``neuron``."""
        return torch.bucketize(neuron, self._ends, right=True)

    def _refresh_from(self, new: Tensor) -> int | None:
        """Where to start recomputing intermediate bounds for children whose newest splits
        are the neurons ``new``: the first of their layers (layers up to a split neuron's do
        not depend on it), unless that is the last or refresh is off."""
        if not self.refresh or new.numel() == 0:
            return None
        first = int(self.layer_of(new).min())
        return first if first < len(self.sizes) - 1 else None

    def bound(self, splits: Tensor, iterations: int,
              init: tuple[Tensor, Tensor] | None = None,
              pre: tuple[Tensor, Tensor] | None = None, new: Tensor | None = None
              ) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, Tensor],
                         tuple[Tensor, Tensor]]:
        """Lower bounds (N, m), candidate inputs, split choices, unstable counts, the
        optimised (alphas, betas) to warm-start the children with, and the ReLU inputs'
        bounds to give them (with refresh; else (N, 0) each).

        ``pre``: the ReLU inputs' bounds of the domains these were split from (valid on
        them); ``new``: the neuron each was split on last (None: no split yet)."""
        n = splits.shape[0]
        parts = self._layers(splits)
        refresh = None if new is None else self._refresh_from(new)
        res = self.bounder.bound(parts, self.C, self._given(n, pre), iterations=iterations,
                                 refresh_from=refresh, init=self._unflat(init))
        lbm = res.lower - self.d
        row = lbm.argmax(dim=1)
        lam = res.input_rows
        a = lam.gather(1, row[:, None, None].expand(-1, 1, lam.shape[2])).squeeze(1)
        x_star = torch.where(a > 0, self.lo, self.hi)
        score = _scores(res, row)
        unstable = (score >= 0).sum(dim=1)
        self.stats["domains"] += n
        choice = score.argmax(dim=1)
        state = (torch.cat(res.state[0], 2), torch.cat(res.state[1], 2))
        if self.refresh:
            kept = (torch.cat([lo for lo, _ in res.pre_bounds], 1),
                    torch.cat([hi for _, hi in res.pre_bounds], 1))
        else:
            kept = (splits.new_zeros(n, 0, dtype=lbm.dtype),) * 2
        todo = torch.nonzero(lbm.amax(dim=1) <= 0).flatten()
        if self.candidates > 1 and todo.numel():
            choice[todo] = self.filtered_choice(
                splits[todo], score[todo], (state[0][todo], state[1][todo]),
                (kept[0][todo], kept[1][todo]))
        return lbm, x_star, choice, unstable, state, kept

    def _unflat(self, state: tuple[Tensor, Tensor] | None) -> State | None:
        if state is None:
            return None
        return (list(torch.split(state[0], self.sizes, dim=2)),
                list(torch.split(state[1], self.sizes, dim=2)))

    def filtered_choice(self, splits: Tensor, score: Tensor, state: tuple[Tensor, Tensor],
                        pre: tuple[Tensor, Tensor]) -> Tensor:
        """Filtered smart branching (FSB, De Palma et al. 2021, as alpha-beta-CROWN's
        ``kfsb``): of the ``candidates`` neurons with the best scores, the one whose worse
        child has the best bound, each child bounded once with the domain's optimised
        (alphas, betas) and bounds ``pre``, no further optimisation (with ``refresh``, after
        recomputing its intermediate bounds under the new split)."""
        n, k = splits.shape[0], min(self.candidates, splits.shape[1])
        top, cand = score.topk(k, dim=1)  # (n, k)
        kids = torch.cat([_split(splits, cand[:, c]) for c in range(k)])
        idx = torch.arange(n)
        reps = 2 * k
        init = (state[0].repeat(reps, 1, 1), state[1].repeat(reps, 1, 1))
        given = self._given(reps * n, (pre[0].repeat(reps, 1), pre[1].repeat(reps, 1)))
        res = self.bounder.bound(self._layers(kids), self.C, given,
                                 refresh_from=self._refresh_from(cand.flatten()),
                                 init=self._unflat(init))
        q = (res.lower - self.d).amax(dim=1).view(k, 2, n).amin(dim=1)  # worse child
        q = q.masked_fill((top < 0).T, -float("inf"))  # stable or split: not a candidate
        return cand[idx, q.argmax(dim=0)]

    def candidate(self, x: Tensor) -> bool:
        """Whether any of the inputs ``x`` (N, n_in) is confirmed as a counterexample."""
        with torch.no_grad():
            m = self.model(x) @ self.C.T - self.d
        hit = m.amax(dim=1) <= 0
        if not bool(hit.any()):
            return False
        self.found = self.checker.check(x[hit].numpy(), self.spec.region, limit=4)
        return self.found is not None

    def leaf(self, splits: Tensor, deadline: Deadline,
             pre: tuple[Tensor, Tensor] | None = None) -> str:
        """Solve one subdomain exactly: ``unsat``, ``sat`` or ``unknown`` (``pre``: its ReLU
        inputs' bounds, flat (hidden,) each, or empty for the root's)."""
        self.stats["milp"] += 1
        given = self._given(1, None if pre is None else (pre[0][None], pre[1][None]))
        res = solve_milp(self.chain, self.lo[0], self.hi[0], self.C, self.d,
                         [lo[0] for lo, _ in given], [hi[0] for _, hi in given],
                         [s[0] for s in self._layers(splits[None])],
                         time_limit=min(deadline.remaining(), 30.0))
        if res.status == "unsat":
            return "unsat"
        if res.status == "candidate" and res.x is not None and self.candidate(
                torch.tensor(res.x, dtype=self.lo.dtype)[None]):
            return "sat"
        return "unknown" if res.status != "timeout" else "timeout"

    def run(self, deadline: Deadline, stack: list[Entry] | None = None,
            pause: Deadline | None = None) -> BabOutcome:
        """Search until proven, refuted or out of time, from the root or from ``stack``
        (open subdomains of an earlier search). When ``pause`` expires between two rounds,
        stop with status ``paused`` and the open subdomains in ``self.open``."""
        self.found = None
        self.open: list[Entry] = []
        if stack is None:
            root = torch.zeros(1, sum(self.sizes), dtype=torch.int8)
            lbm, x_star, choice, unstable, state, kept = self.bound(root, 3 * self.iterations)
            if bool((lbm.amax(dim=1) > 0).all()):
                return BabOutcome("unsat", stats=self.stats)
            if self.candidate(x_star):
                return BabOutcome("sat", self.found, self.stats)
            stack = [(root, choice, unstable, lbm, *state, *kept)]
        batch, per_child, status = 1, None, "unsat"
        while stack:
            if deadline.expired():
                return BabOutcome("timeout", stats=self.stats)
            if pause is not None and pause.expired():
                self.open = stack
                return BabOutcome("paused", stats=self.stats)
            t0 = time.monotonic()
            every = [torch.cat(t) for t in zip(*stack, strict=True)]
            k = min(batch, every[0].shape[0])
            stack = [tuple(t[:-k] for t in every)] if every[0].shape[0] > k else []
            splits, choice, unstable, parent, alphas, betas, plo, phi = (t[-k:] for t in every)
            leaves = unstable <= self.leaf_unstable
            for i in torch.nonzero(leaves).flatten().tolist():
                if deadline.expired():
                    return BabOutcome("timeout", stats=self.stats)
                got = self.leaf(splits[i], deadline, (plo[i], phi[i]))
                if got == "sat":
                    return BabOutcome("sat", self.found, self.stats)
                if got != "unsat":
                    status = "unknown" if got == "unknown" else status
                    if got == "timeout":
                        return BabOutcome("timeout", stats=self.stats)
            keep_ = ~leaves
            splits, choice, parent = splits[keep_], choice[keep_], parent[keep_]
            alphas, betas, plo, phi = alphas[keep_], betas[keep_], plo[keep_], phi[keep_]
            if splits.shape[0]:
                kids = _split(splits, choice)
                init = (alphas.repeat(2, 1, 1), betas.repeat(2, 1, 1))
                pre = (plo.repeat(2, 1), phi.repeat(2, 1))
                lbm, x_star, choice2, unstable2, (a2, b2), (l2, u2) = self.bound(
                    kids, self.iterations, init, pre, choice.repeat(2))
                lbm = torch.maximum(lbm, parent.repeat(2, 1))  # children lie in the parent
                if self.candidate(x_star):
                    return BabOutcome("sat", self.found, self.stats)
                open_ = lbm.amax(dim=1) <= 0
                if bool(open_.any()):
                    stack.append((kids[open_], choice2[open_], unstable2[open_], lbm[open_],
                                  a2[open_], b2[open_], l2[open_], u2[open_]))
                spent = (time.monotonic() - t0) / kids.shape[0]
                per_child = spent if per_child is None else 0.7 * per_child + 0.3 * spent
                batch = int(max(1, min(2048, self.round_seconds / max(per_child, 1e-7) / 2)))
            self.stats["rounds"] += 1
        return BabOutcome(status, stats=self.stats)


def root_bounds(bounder: SubdomainBounder, deadline: Deadline, iterations: int = 20,
                share: float = 0.25) -> tuple[list[Tensor], list[Tensor]]:
    """Intermediate bounds of the region's box: CROWN, then alpha-CROWN per neuron for at
    most ``share`` of the remaining time."""
    budget = deadline.fraction(share)
    out = bounder.root_bounds(iterations, stop=budget.expired)
    return [lo for lo, _ in out], [hi for _, hi in out]


def search_task(shared: tuple[Any, ...], task: tuple[Tensor, list[Entry]],
                deadline: Deadline) -> BabOutcome:
    """One worker's search (:mod:`.parallel`): the open subdomains ``task`` of one group."""
    chain, model, spec, checker, bounds, kwargs = shared
    rows, stack = task
    return ReluBab(chain, model, spec, rows, checker, bounds, **kwargs).run(deadline, stack)


def refinable(chain: Chain) -> bool:
    """Whether MILP refinement of the root bounds suits ``chain``: dense layers (the program
    needs every matrix entry) and more than one hidden layer (the first is exact)."""
    return len(chain.hidden) > 1 and not any(isinstance(m, ConvMap) for m in chain.maps)


def relu_bab(chain: Chain, model: nn.Module, spec: RegionSpec, checker: Checker,
             deadline: Deadline, *, root_iterations: int = 20, workers: int = 1,
             warmup: float = 1.0, refine_after: float = 0.1, refine_share: float = 0.4,
             neuron_seconds: float = 0.5, **kwargs: float) -> BabOutcome:
    """Every group of the region, sharing the root's intermediate bounds.

    On :func:`refinable` chains with ``refine_share`` > 0, the groups are first searched
    for ``refine_after`` of the time (split evenly among them); if some are left open, the
    root bounds are refined by MILP (:func:`.refine.refine_bounds`, ``neuron_seconds`` per
    solve) for ``refine_share`` of the time left, and the open groups searched again from
    their root. With ``workers`` > 1, the (last) search runs here for ``warmup`` seconds in
    all; the subdomains left open go to worker processes (:mod:`.parallel`), each group's
    dealt ``workers`` ways.
    """
    pool = Workers(workers) if workers > 1 else None
    stats: dict[str, float] = {}
    try:
        bounder = SubdomainBounder(model, spec.lower[None], spec.upper[None])
        bounds = root_bounds(bounder, deadline, root_iterations)
        groups, status = list(range(spec.n_groups)), "unsat"
        if refine_share > 0 and refinable(chain):
            first = deadline.fraction(refine_after)
            found, groups, status = _first_pass(chain, model, spec, checker, first, bounds,
                                                kwargs, stats, bounder)
            if found is not None:
                return found
            if not groups:
                return BabOutcome(status, stats=stats)
            lows, ups, rs = refine_bounds(chain, bounder, *bounds, deadline.fraction(
                refine_share), neuron_seconds=neuron_seconds)
            tight = bounder.optimise(list(zip(lows, ups, strict=True)), root_iterations,
                                     stop=deadline.expired)
            bounds = ([x for x, _ in tight], [x for _, x in tight])
            stats["refine_solves"] = rs.solves
            stats["refine_stabilised"] = rs.stabilised
        out = _groups(chain, model, spec, checker, deadline, pool, bounds, groups, warmup,
                      kwargs, bounder)
        merge_stats(stats, out.stats)
        return BabOutcome(status if out.status == "unsat" else out.status,
                          out.counterexample, stats)
    finally:
        if pool is not None:
            pool.close()


def _first_pass(chain: Chain, model: nn.Module, spec: RegionSpec, checker: Checker,
                first: Deadline, bounds: tuple[list[Tensor], list[Tensor]],
                kwargs: dict[str, float], stats: dict[str, float], bounder: SubdomainBounder
                ) -> tuple[BabOutcome | None, list[int], str]:
    """Each group searched for an even share of ``first``: a sat outcome if one is found,
    else None, the groups left open and the status of the others (``unsat``, or
    ``unknown`` where a search ended undecided)."""
    open_: list[int] = []
    status = "unsat"
    for g in range(spec.n_groups):
        rows = torch.nonzero(spec.group == g).flatten()
        if rows.numel() == 0:  # no constraint: every input is unsafe (checked by the caller)
            status = "unknown"
            continue
        search = ReluBab(chain, model, spec, rows, checker, bounds, bounder=bounder,
                         **kwargs)  # type: ignore[arg-type]
        out = search.run(Deadline(first.remaining() / (spec.n_groups - g)))
        merge_stats(stats, out.stats)
        if out.status == "sat":
            return BabOutcome("sat", out.counterexample, stats), [], status
        if out.status == "timeout":
            open_.append(g)
        elif out.status == "unknown":
            status = "unknown"
    return None, open_, status


def _groups(chain: Chain, model: nn.Module, spec: RegionSpec, checker: Checker,
            deadline: Deadline, pool: Workers | None,
            bounds: tuple[list[Tensor], list[Tensor]], groups: list[int], warmup: float,
            kwargs: dict[str, float], bounder: SubdomainBounder) -> BabOutcome:
    stats: dict[str, float] = {}
    status = "unsat"
    left: list[tuple[Tensor, list[Entry]]] = []
    for g in groups:
        rows = torch.nonzero(spec.group == g).flatten()
        if rows.numel() == 0:  # no constraint: every input is unsafe (checked by the caller)
            status = "unknown"
            continue
        search = ReluBab(chain, model, spec, rows, checker, bounds, bounder=bounder,
                         **kwargs)  # type: ignore[arg-type]
        pause = Deadline(warmup / len(groups)) if pool is not None else None
        out = search.run(deadline, pause=pause)
        merge_stats(stats, out.stats)
        if out.status in ("sat", "timeout"):
            return BabOutcome(out.status, out.counterexample, stats)
        if out.status == "paused":
            left.append((rows, search.open))
        elif out.status == "unknown":
            status = "unknown"
    if left:
        assert pool is not None
        tasks = [(rows, part) for rows, open_ in left for part in deal(open_, pool.n)]
        out = pool.search(search_task, tasks, (chain, model, spec, checker, bounds, kwargs),
                          deadline)
        merge_stats(stats, out.stats)
        if out.status != "unsat":
            return BabOutcome(out.status, out.counterexample, stats)
    return BabOutcome(status, stats=stats)
