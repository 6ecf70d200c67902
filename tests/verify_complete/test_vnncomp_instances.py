"""Verdicts on the shared VNN-COMP instances, counterexamples, and the deadline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.io.vnncomp import read_result
from certkit.verify.complete import VerifyOptions, verify
from certkit.verify.complete.instances import verify_instance, verify_instances

# VNN-COMP 2022 "test" category: test_sat is ACAS Xu 1_7 (property 3 violated), test_unsat
# 1_6 (holds); nano/tiny/small cannot reach their output thresholds.
EXPECTED = {"test_nano": "unsat", "test_tiny": "unsat", "test_small": "unsat",
            "test_sat": "sat", "test_unsat": "unsat"}


def test_vnncomp_test_category(benchmarks: Path, tmp_path: Path) -> None:
    d = benchmarks / "vnncomp_test"
    rows = verify_instances(d / "instances.csv", results=tmp_path / "r.csv",
                            out_dir=tmp_path / "out")
    got = {r["onnx"].removesuffix(".onnx"): r["verdict"] for r in rows}
    assert got == EXPECTED
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("instance,onnx,vnnlib")
    sat_file = next((tmp_path / "out").glob("*test_sat*"))
    status, values = read_result(sat_file)
    assert status == "sat"
    net = load_onnx(d / "test_sat.onnx")
    prop = parse_vnnlib(d / "test_prop.vnnlib")
    import numpy as np

    x = np.array([values[f"X_{i}"] for i in range(5)])
    y = net.run_onnxruntime(x[None])[0]
    assert prop.violated_by(x, y)
    assert np.abs(y - np.array([values[f"Y_{j}"] for j in range(5)])).max() <= 1e-6


def test_sat_found_by_branch_and_bound_alone(benchmarks: Path) -> None:
    d = benchmarks / "vnncomp_test"
    v = verify(load_onnx(d / "test_sat.onnx"), parse_vnnlib(d / "test_prop.vnnlib"),
               timeout=60, options=VerifyOptions(attack_steps=0))
    assert v.status == "sat" and v.method == "input-bab"


def test_acasxu_instances(benchmarks: Path) -> None:
    d = benchmarks / "acasxu"
    v = verify_instance(d / "ACASXU_run2a_3_1_batch_2000.onnx", d / "prop_3.vnnlib", 60)
    assert v.status == "unsat"
    v = verify_instance(d / "ACASXU_run2a_1_1_batch_2000.onnx", d / "prop_1.vnnlib", 60)
    assert v.status == "unsat"


@pytest.mark.parametrize("strategy", ["input", "relu"])
def test_timeout_is_honoured(benchmarks: Path, strategy: str) -> None:
    d = benchmarks / "acasxu"
    start = time.monotonic()
    v = verify_instance(d / "ACASXU_run2a_3_7_batch_2000.onnx", d / "prop_1.vnnlib", 1.5,
                        options=VerifyOptions(strategy=strategy))
    wall = time.monotonic() - start
    assert v.status == "timeout"
    assert wall <= 1.5 + 1.0, wall
