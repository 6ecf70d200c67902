"""ReLU branch and bound on worker processes gives the verdicts of one process, and the
deadline holds with workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
from vc_helpers import make_instance

from certkit.errors import CertkitError
from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.verify.complete import VerifyOptions, relu_bab, verify
from certkit.verify.complete.chain import extract_chain
from certkit.verify.complete.counterexample import Checker
from certkit.verify.complete.deadline import Deadline
from certkit.verify.complete.spec import RegionSpec

CASES = [(11, [False, False, True]), (12, [False, False]), (13, [True, False, False]),
         (14, [False, False, False])]


def _search(tmp: Path, seed: int, unsafe: list[bool], **kwargs: Any) -> str:
    """ReLU splitting's verdict on a random instance, the MILP leaf off (it must branch)."""
    onnx_path, prop_path, _ = make_instance(tmp, seed, 2, 2, unsafe)
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    spec = RegionSpec.from_region(prop.regions[0])
    chain = extract_chain(net.module64, net.n_inputs)
    assert chain is not None
    kwargs.setdefault("refine_share", 0.0)  # no first pass: the pool gets the groups
    return relu_bab.relu_bab(chain, net.module64, spec, Checker(net, prop), Deadline(60),
                             leaf_unstable=0, **kwargs).status


def test_two_workers_give_the_verdicts_of_one(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every group left open after the root goes to the workers (no warm-up); the MILP
    leaf is off, so the workers really branch. Verdicts equal one process's and the truth."""
    calls: list[int] = []
    real = relu_bab.Workers.search

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(relu_bab.Workers, "search", counted)
    for seed, unsafe in CASES:
        got = [_search(tmp_path, seed, unsafe, workers=w, warmup=0.0) for w in (1, 2)]
        assert got == ["sat" if any(unsafe) else "unsat"] * 2, (seed, got)
    assert calls and max(calls) >= 2  # the pool ran, at least once with work for both workers


def test_the_deadline_holds_with_workers(benchmarks: Path) -> None:
    """mnist_fc 256x4 property 0 at eps 0.03 is far from solved in 6 s: the verdict is a
    timeout, reached within 1 s of the limit, worker start-up included."""
    root = benchmarks / "mnist_fc"
    if not (root / "mnist-net_256x4.onnx").exists():
        pytest.skip("mnist_fc not found")
    prop = parse_vnnlib(root / "prop_0_0.03.vnnlib")
    net = load_onnx(root / "mnist-net_256x4.onnx")
    t0 = time.monotonic()
    v = verify(net, prop, timeout=6.0, options=VerifyOptions(strategy="relu", workers=2))
    elapsed = time.monotonic() - t0
    assert v.status == "timeout"
    assert elapsed < 7.0, elapsed


def test_close_is_prompt_while_a_worker_is_still_starting() -> None:
    """A 64 MB payload cannot be written to a worker still importing torch: the search
    returns at its deadline and closing (kill, unblock the sender) takes well under 1 s."""
    big = (torch.zeros(8 * 2**20, dtype=torch.float64),)
    pool = relu_bab.Workers(2)
    t0 = time.monotonic()
    out = pool.search(relu_bab.search_task, [(), ()], big, Deadline(0.3))
    elapsed = time.monotonic() - t0
    assert out.status == "timeout"
    assert elapsed < 1.3, elapsed
    pool.close()  # a second close is harmless


def test_workers_must_be_positive() -> None:
    with pytest.raises(CertkitError, match="workers"):
        VerifyOptions(workers=0).check()


@pytest.mark.parametrize("refresh", [False, True])
def test_filtered_smart_branching_keeps_the_verdicts(tmp_path: Path, refresh: bool) -> None:
    """FSB over 3 candidates (with and without refreshed intermediate bounds) reaches the
    instance's truth with the MILP leaf off, so it really branches."""
    for seed, unsafe in CASES:
        got = _search(tmp_path, seed, unsafe, candidates=3, refresh=refresh)
        assert got == ("sat" if any(unsafe) else "unsat"), (seed, got)
