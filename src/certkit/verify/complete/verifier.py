"""Complete verification of a VNN-LIB property on an ONNX network: attack, then prove.

``verify(net, prop, timeout=...)`` runs, within one wall-clock deadline:

1. the attack (:mod:`.attack`) on every region, with a share of the time;
2. for every region in turn, the proof: input-splitting branch and bound (:mod:`.input_bab`)
   for networks with few inputs, ReLU-splitting branch and bound (:mod:`.relu_bab`)
   otherwise, or the MILP alone (:mod:`.milp`), as ``strategy`` says.

``unsat`` needs every region proven safe; ``sat`` comes only with a counterexample that
onnxruntime confirms (:class:`.Checker`). Running out of time gives ``timeout``; a search
that ends without either answer (boxes too small to split) gives ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...bounds import get_method
from ...bounds.subdomains import SubdomainBounder
from ...errors import CertkitError
from ...io.onnx import OnnxNetwork
from ...io.vnnlib import VnnProperty
from .attack import Screener, pgd_attack
from .bounders import Bounder, BoxBounder, EngineBounder
from .chain import Chain, extract_chain
from .counterexample import Checker
from .deadline import Deadline
from .input_bab import BabOutcome, input_bab, merge_stats
from .leaf import MilpLeaf
from .milp import solve_milp
from .relu_bab import relu_bab
from .result import Verdict
from .spec import RegionSpec

STRATEGIES = ("auto", "input", "relu", "milp")
BOUNDERS = ("auto", "chain", "engine")


@dataclass(frozen=True)
class VerifyOptions:
    """Knobs of :func:`verify` (the defaults are what ``certkit verify`` uses).

    ``strategy``: ``input`` splitting, ``relu`` splitting, ``milp`` or ``auto`` (input
    splitting up to ``input_split_max`` inputs, else ReLU splitting). ``bounder`` (input
    splitting): the dense ``chain`` CROWN of this package, the bound ``engine``'s ``method``,
    or ``auto`` (chain when the network is a ReLU chain).
    """

    strategy: str = "auto"
    bounder: str = "auto"
    method: str = "crown"
    input_split_max: int = 16
    lookahead: int = 5
    alpha_iterations: int = 5  # input splitting, chain bounder: alpha-CROWN steps on the
    # output rows of every box (cheap next to the intermediate bounds; 0: plain CROWN)
    leaf_unstable: int = 32  # input splitting: the MILP decides boxes with this few unstable
    leaf_seconds: float = 2.0  # input splitting: time limit of one leaf MILP (then split on)
    leaf_ramp: float = 10.0  # input splitting: seconds over which the leaf limit rises from
    # 8 unstable neurons to leaf_unstable (0: leaf_unstable from the start)
    screen_chunk: int = 8192  # input splitting: random points checked per round (0: none)
    attack_restarts: int = 64
    attack_steps: int = 100  # 0: no attack (branch and bound must find counterexamples)
    attack_share: float = 0.1
    round_seconds: float = 0.3
    beta_iterations: int = 10
    threads: int = 1  # torch threads while verifying (small batched ops: one is fastest)
    workers: int = 1  # ReLU splitting: processes for the subdomains a short search leaves
    refine_share: float = 0.4  # ReLU splitting, dense chains: share of the time left after
    # a first search (refine_after of it) spent refining the root bounds by MILP (0: never)
    refine_after: float = 0.1
    seed: int = 0

    def check(self) -> None:
        """Reject unknown choices."""
        if self.strategy not in STRATEGIES:
            raise CertkitError(f"unknown strategy {self.strategy!r}; valid: "
                               f"{', '.join(STRATEGIES)}")
        if self.bounder not in BOUNDERS:
            raise CertkitError(f"unknown bounder {self.bounder!r}; valid: {', '.join(BOUNDERS)}")
        get_method(self.method)
        if self.workers < 1:
            raise CertkitError(f"workers must be at least 1, not {self.workers}")
        if self.leaf_unstable > 0 and not self.leaf_seconds > 0:
            raise CertkitError(f"leaf_seconds must be positive, not {self.leaf_seconds}")
        for name in ("refine_share", "refine_after"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise CertkitError(f"{name} must be in [0, 1), not {getattr(self, name)}")


def _attack_all(net: OnnxNetwork, specs: list[RegionSpec], screeners: list[Screener],
                checker: Checker, deadline: Deadline, opts: VerifyOptions) -> Verdict | None:
    share = deadline.fraction(opts.attack_share)
    for spec, screener in zip(specs, screeners, strict=True):
        if spec.trivially_unsafe:
            found = checker.check(((spec.lower + spec.upper) / 2).numpy(), spec.region)
        elif opts.attack_steps <= 0 or opts.attack_restarts <= 0:
            found = None
        else:
            found = pgd_attack(net.module, spec, checker, share, restarts=opts.attack_restarts,
                               steps=opts.attack_steps, seed=opts.seed, screener=screener)
        if found is not None:
            return Verdict("sat", counterexample=found, method="attack")
    return None


def _milp(net: OnnxNetwork, chain: Chain, spec: RegionSpec, checker: Checker,
          deadline: Deadline) -> BabOutcome:
    bounds = SubdomainBounder(net.module64, spec.lower[None], spec.upper[None]).root_bounds(0)
    lows, ups = [x for x, _ in bounds], [x for _, x in bounds]
    status = "unsat"
    for g in range(spec.n_groups):
        rows = torch.nonzero(spec.group == g).flatten()
        res = solve_milp(chain, spec.lower, spec.upper, spec.C[rows], spec.d[rows],
                         [x[0] for x in lows], [x[0] for x in ups],
                         time_limit=deadline.remaining())
        if res.status == "candidate" and res.x is not None:
            found = checker.check(res.x, spec.region)
            if found is not None:
                return BabOutcome("sat", found)
            status = "unknown"
        elif res.status == "timeout":
            return BabOutcome("timeout")
        elif res.status != "unsat":
            status = "unknown"
    return BabOutcome(status)


def _prove(net: OnnxNetwork, spec: RegionSpec, chain: Chain | None, checker: Checker,
           deadline: Deadline, opts: VerifyOptions, screener: Screener
           ) -> tuple[str, BabOutcome]:
    strategy = opts.strategy
    if strategy == "auto":
        strategy = "input" if net.n_inputs <= opts.input_split_max or chain is None else "relu"
    if strategy in ("relu", "milp") and chain is None:
        raise CertkitError(f"the {strategy} strategy needs a chain of affine layers and ReLUs; "
                           "this network is not one (use --strategy input)")
    if strategy == "milp":
        assert chain is not None
        return "milp", _milp(net, chain, spec, checker, deadline)
    if strategy == "relu":
        assert chain is not None
        return "relu-bab", relu_bab(chain, net.module64, spec, checker, deadline,
                                    iterations=opts.beta_iterations, workers=opts.workers,
                                    refine_share=opts.refine_share,
                                    refine_after=opts.refine_after)
    leaf = None
    if chain is not None and opts.bounder != "engine":
        boxes = BoxBounder(net.module64, spec.lower, spec.upper, opts.alpha_iterations)
        bounder: Bounder = boxes
        if opts.leaf_unstable > 0:  # (the leaves use the same engine graph)
            leaf = MilpLeaf(chain, spec, checker, deadline, opts.leaf_unstable,
                            time_limit=opts.leaf_seconds, ramp_seconds=opts.leaf_ramp,
                            bounder=boxes.engine)
    else:
        bounder = EngineBounder(net.module64, opts.method)
    return "input-bab", input_bab(net.module64, spec, bounder, checker, deadline,
                                  lookahead=opts.lookahead, round_seconds=opts.round_seconds,
                                  leaf=leaf, screener=screener if opts.screen_chunk > 0 else None)


def verify(net: OnnxNetwork, prop: VnnProperty, *, timeout: float | None = None,
           options: VerifyOptions | None = None, start: float | None = None) -> Verdict:
    """Decide whether ``prop``'s unsafe set is reachable (``sat``) or not (``unsat``).

    ``start`` (a ``time.monotonic()`` value) lets the deadline include work done before the
    call, such as loading the files.
    """
    opts = options or VerifyOptions()
    opts.check()
    if (prop.n_inputs, prop.n_outputs) != (net.n_inputs, net.n_outputs):
        raise CertkitError(f"the property has {prop.n_inputs} inputs and {prop.n_outputs} "
                           f"outputs, the network {net.n_inputs} and {net.n_outputs}")
    deadline = Deadline(timeout, start)
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, opts.threads))
    try:
        return _verify(net, prop, deadline, opts)
    finally:
        torch.set_num_threads(before)


def _verify(net: OnnxNetwork, prop: VnnProperty, deadline: Deadline,
            opts: VerifyOptions) -> Verdict:
    checker = Checker(net, prop)
    specs = [RegionSpec.from_region(r) for r in prop.regions]
    if not specs:
        return Verdict("unsat", deadline.elapsed(), method="empty input set")
    # one random search per region: the attack's screen seeds the one input splitting runs
    elite = max(256, (opts.attack_restarts - 1) // 2)  # the screen's share of PGD starts
    screeners = [Screener(net.module, spec, checker, max(1, opts.screen_chunk), opts.seed + 1,
                          elite=elite) for spec in specs]
    found = _attack_all(net, specs, screeners, checker, deadline, opts)
    if found is not None:
        found.seconds = deadline.elapsed()
        return found
    chain = None if opts.strategy == "input" and opts.bounder == "engine" else \
        extract_chain(net.module64, net.n_inputs)
    stats: dict[str, float] = {}
    status, method = "unsat", ""
    for spec, screener in zip(specs, screeners, strict=True):
        method, out = _prove(net, spec, chain, checker, deadline, opts, screener)
        merge_stats(stats, out.stats)
        if out.status in ("sat", "timeout"):
            return Verdict(out.status, deadline.elapsed(), out.counterexample, method,
                           stats=stats)
        if out.status != "unsat":
            status = "unknown"
    return Verdict(status, deadline.elapsed(), method=method, stats=stats)
