"""VNN-COMP result files and instance lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from certkit.errors import CertkitError
from certkit.io.vnncomp import format_result, read_instances, read_result, write_result


def test_sat_result_round_trip(tmp_path: Path) -> None:
    x = np.array([0.1, -2.5e-8, 1 / 3])
    y = np.array([1e10, -0.0])
    path = tmp_path / "sub" / "r.txt"
    write_result(path, "sat", x, y)
    text = path.read_text()
    assert text.splitlines()[0] == "sat"
    assert text.splitlines()[1] == "((X_0 0.1)"
    assert text.rstrip().endswith("(Y_1 -0.0))")
    status, values = read_result(path)
    assert status == "sat"
    assert [values[f"X_{i}"] for i in range(3)] == x.tolist()  # exact (repr round trip)
    assert [values[f"Y_{j}"] for j in range(2)] == y.tolist()
    assert not list(path.parent.glob(".r.txt.*"))  # no temporary file left


@pytest.mark.parametrize("status", ["unsat", "timeout", "unknown", "error"])
def test_other_results_are_one_line(status: str) -> None:
    assert format_result(status) == status + "\n"


def test_bad_results() -> None:
    with pytest.raises(ValueError):
        format_result("maybe")
    with pytest.raises(ValueError):
        format_result("sat")


def test_instances(tmp_path: Path, benchmarks: Path) -> None:
    rows = read_instances(benchmarks / "acasxu" / "instances.csv")
    assert len(rows) == 186 and rows[0].timeout == 116
    assert rows[0].name == "ACASXU_run2a_1_1_batch_2000:prop_1"
    assert len(read_instances(benchmarks / "mnist_fc" / "instances.csv")) == 90
    bad = tmp_path / "i.csv"
    bad.write_text("a.onnx,b.vnnlib\n")
    with pytest.raises(CertkitError, match="i.csv:1"):
        read_instances(bad)
    bad.write_text("a.onnx,b.vnnlib,soon\n")
    with pytest.raises(CertkitError, match="not a number"):
        read_instances(bad)
    bad.write_text("\n")
    with pytest.raises(CertkitError, match="no instances"):
        read_instances(bad)
