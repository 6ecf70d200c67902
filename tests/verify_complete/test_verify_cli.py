"""``certkit verify`` through typer's runner: result files, the instances CSV, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.io.vnncomp import read_result

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def _json(result: object) -> dict:
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]


def test_single_instance_writes_the_result_file(benchmarks: Path, tmp_path: Path) -> None:
    d = benchmarks / "vnncomp_test"
    out = tmp_path / "res.txt"
    s = _json(runner.invoke(app, ["verify", str(d / "test_sat.onnx"), str(d / "test_prop.vnnlib"),
                                  "--timeout", "30", "--out", str(out), "--json"]))
    assert s["verdict"] == "sat" and len(s["counterexample_x"]) == 5
    status, values = read_result(out)
    assert status == "sat" and values["X_0"] == s["counterexample_x"][0]
    s = _json(runner.invoke(app, ["verify", str(d / "test_nano.onnx"),
                                  str(d / "test_nano.vnnlib"), "--timeout", "30", "--out",
                                  str(out), "--json", "--strategy", "milp"]))
    assert s["verdict"] == "unsat" and out.read_text() == "unsat\n"


def test_instances_csv(benchmarks: Path, tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    s = _json(runner.invoke(app, ["verify", "--instances",
                                  str(benchmarks / "vnncomp_test" / "instances.csv"),
                                  "--results", str(csv), "--limit", "3", "--timeout", "20",
                                  "--json"]))
    assert s["instances"] == 3 and s["unsat"] == 3
    lines = csv.read_text().splitlines()
    assert len(lines) == 4 and lines[1].startswith("test_nano:test_nano,")


def test_bad_input_exit_2_and_error_result(benchmarks: Path, tmp_path: Path) -> None:
    d = benchmarks / "vnncomp_test"
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(assert (<= X_0 1)\n")
    out = tmp_path / "r.txt"
    res = runner.invoke(app, ["verify", str(d / "test_nano.onnx"), str(bad), "--timeout", "5",
                              "--out", str(out)])
    assert res.exit_code == 2 and "bad.vnnlib:2:1" in res.output
    assert out.read_text() == "error\n"
    wrong = runner.invoke(app, ["verify", str(d / "test_sat.onnx"), str(d / "test_nano.vnnlib"),
                                "--timeout", "5"])
    assert wrong.exit_code == 2 and "inputs" in wrong.output
    for args in (["verify"], ["verify", str(d / "test_nano.onnx"), str(d / "test_nano.vnnlib")],
                 ["verify", "--instances", "x.csv", str(d / "test_nano.onnx")],
                 ["verify", str(d / "test_nano.onnx"), str(d / "test_nano.vnnlib"), "--timeout",
                  "5", "--strategy", "magic"]):
        assert runner.invoke(app, args).exit_code == 2, args


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_vnncomp_scripts(benchmarks: Path, tmp_path: Path) -> None:
    certkit = REPO / ".venv" / "bin" / "certkit"
    if not certkit.exists():
        pytest.skip("no .venv/bin/certkit")
    d = benchmarks / "vnncomp_test"
    onnx, prop, out = d / "test_unsat.onnx", d / "test_prop.vnnlib", tmp_path / "o.txt"
    prep = subprocess.run(["bash", str(REPO / "vnncomp" / "prepare_instance.sh"), "v1", "test",
                           str(onnx), str(prop)], capture_output=True, text=True, timeout=60)
    assert prep.returncode == 0, prep.stderr
    run = subprocess.run(["bash", str(REPO / "vnncomp" / "run_instance.sh"), "v1", "test",
                          str(onnx), str(prop), str(out), "30"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert out.read_text() == "unsat\n"
