"""``certkit certify`` through typer's CliRunner on a run directory made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from verify_helpers import train_quickly

from certkit.cli.app import app
from certkit.data import load_dataset
from certkit.runs import read_jsonl, save_model

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = load_dataset("digits")
    model = train_quickly("mlp-2x32", d.train.x, d.train.y, d.info.mean, d.info.std,
                          epochs=6)
    path = tmp_path_factory.mktemp("run")
    save_model(path, model, {"architecture": "mlp-2x32", "input_shape": [1, 8, 8],
                             "num_classes": 10, "mean": list(d.info.mean),
                             "std": list(d.info.std), "dataset": {"name": "digits"}})
    return path


def test_certify_prints_a_summary_and_writes_per_sample_rows(run_dir: Path) -> None:
    res = runner.invoke(app, ["certify", str(run_dir), "--method", "crown", "--eps", "0.01",
                              "--n", "40", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n"] == 40 and summary["method"] == "crown"
    assert 0 <= summary["certified_accuracy"] <= summary["clean_accuracy"] <= 1
    assert summary["seconds_per_sample"] > 0
    path = Path(summary["results"])
    assert path == run_dir / "certify-crown-linf-eps0.01.jsonl"
    rows = read_jsonl(path)
    assert [r["index"] for r in rows] == list(range(40))
    assert {"predicted", "certified", "margin_lower", "seconds", "robust"} <= set(rows[0])
    assert sum(r["certified"] for r in rows) / 40 == pytest.approx(summary["certified_accuracy"])
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temp files left
    log = read_jsonl(run_dir / "results.jsonl")
    assert log[-1]["command"] == "certify" and log[-1]["results"] == str(path)


def test_table_output_and_other_options(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "verdicts.jsonl"
    res = runner.invoke(app, ["certify", str(run_dir), "--method", "deeppoly", "--eps", "0.3",
                              "--spec", "l2", "--n", "10", "--batch-size", "3",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "certified_accuracy" in res.stdout and "clean_accuracy" in res.stdout
    rows = read_jsonl(out)
    assert len(rows) == 10 and rows[0]["method"] == "crown" and rows[0]["spec"] == "l2"


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "zonotope", "--eps", "0.1"], "unknown bound method"),
    (["--eps", "-0.1"], "eps must be"),
    (["--eps", "nan"], "eps must be"),
    (["--eps", "0.1", "--spec", "l1"], "unknown spec"),
    (["--eps", "0.1", "--n", "0"], "n must be"),
])
def test_bad_options_exit_2_with_one_line(run_dir: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["certify", str(run_dir), *args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_missing_run_directory(tmp_path: Path) -> None:
    res = runner.invoke(app, ["certify", str(tmp_path / "nope"), "--eps", "0.1"])
    assert res.exit_code == 2 and "run directory not found" in res.output
