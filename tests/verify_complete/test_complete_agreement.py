"""On tiny random networks, input splitting, ReLU splitting, the MILP and a dense grid agree.

The ground truth of every group (disjunct) is the MILP's optimum ``t*`` of
``min_x max_i (C_i f(x) - d_i)``; the thresholds are then shifted so that each group's
optimum is ``+delta`` (safe) or ``-delta`` (unsafe), well away from the solvers'
tolerances. Exhaustive sampling on a dense grid never goes below the MILP's optimum and
never finds a counterexample for a safe group. The attack is off, so the branch and bound
searches have to find counterexamples themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from vc_helpers import make_instance

from certkit.errors import CertkitError
from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.verify.complete import VerifyOptions, verify


@settings(max_examples=20, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_in=st.sampled_from([1, 2]),
       depth=st.sampled_from([1, 2]),
       unsafe=st.lists(st.booleans(), min_size=1, max_size=2))
def test_verdicts_agree(tmp_path: Path, seed: int, n_in: int, depth: int,
                        unsafe: list[bool]) -> None:
    onnx_path, prop_path, _ = make_instance(tmp_path, seed, n_in, depth, unsafe)
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    want = "sat" if any(unsafe) else "unsat"
    # input splitting alone (leaf_unstable=0) and with the MILP deciding small boxes
    for strategy, leaf in (("input", 0), ("input", 32), ("relu", 0), ("milp", 0)):
        v = verify(net, prop, timeout=30, options=VerifyOptions(
            strategy=strategy, attack_steps=0, leaf_unstable=leaf))
        assert v.status == want, (strategy, leaf, v)
        if v.status == "sat":
            assert v.counterexample is not None
            assert prop.violated_by(v.counterexample.x, net.run_onnxruntime(
                v.counterexample.x[None])[0])


@pytest.mark.parametrize("bounder", ["engine", "chain"])
def test_input_splitting_with_either_bounder(tmp_path: Path, bounder: str) -> None:
    onnx_path, prop_path, _ = make_instance(tmp_path, 7, 2, 2, [False, False])
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    v = verify(net, prop, timeout=30, options=VerifyOptions(strategy="input", bounder=bounder,
                                                            attack_steps=0, leaf_unstable=0))
    assert v.status == "unsat"
    onnx_path, prop_path, _ = make_instance(tmp_path, 8, 2, 2, [False, True])
    v = verify(load_onnx(onnx_path), parse_vnnlib(prop_path), timeout=30,
               options=VerifyOptions(strategy="input", bounder=bounder, attack_steps=0,
                                     leaf_unstable=0))
    assert v.status == "sat"


def test_bad_options_are_rejected(tmp_path: Path) -> None:
    onnx_path, prop_path, _ = make_instance(tmp_path, 3, 2, 1, [False])
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    for bad, word in ((VerifyOptions(strategy="guess"), "strategy"),
                      (VerifyOptions(leaf_seconds=0.0), "leaf_seconds")):
        with pytest.raises(CertkitError, match=word):
            verify(net, prop, timeout=5, options=bad)


def test_leaf_limit_rises_with_the_search_age(tmp_path: Path) -> None:
    """The MILP leaf's limit: 8 at the start, ``max_unstable`` after ``ramp_seconds``,
    linear between; without a ramp ``max_unstable`` at once. Its verdicts on a whole box
    match the instance's truth."""
    from certkit.verify.complete.chain import extract_chain
    from certkit.verify.complete.counterexample import Checker
    from certkit.verify.complete.deadline import Deadline
    from certkit.verify.complete.leaf import MilpLeaf
    from certkit.verify.complete.spec import RegionSpec

    onnx_path, prop_path, _ = make_instance(tmp_path, 5, 2, 2, [False, True])
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    spec = RegionSpec.from_region(prop.regions[0])
    chain = extract_chain(net.module64, net.n_inputs)
    assert chain is not None
    leaf = MilpLeaf(chain, spec, Checker(net, prop), Deadline(30), 32, ramp_seconds=100.0)
    assert leaf.limit() == 8
    leaf.started -= 50.0
    assert leaf.limit() == 20
    leaf.started -= 100.0
    assert leaf.limit() == 32
    assert MilpLeaf(chain, spec, Checker(net, prop), Deadline(30), 32).limit() == 32
    assert MilpLeaf(chain, spec, Checker(net, prop), Deadline(30), 4, ramp_seconds=9).limit() == 4
    alive, found = leaf(spec.lower, spec.upper, torch.ones(spec.n_groups, dtype=torch.bool))
    assert found is not None  # group 1 is unsafe: the MILP's optimum is a counterexample
    assert prop.violated_by(found.x, net.run_onnxruntime(found.x[None])[0])
