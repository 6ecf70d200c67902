"""The CLI through typer's runner: summaries, --json, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.errors import CertkitError

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    res = runner.invoke(app, ["train", "--data", "digits", "--model", "mlp-2x32", "--epochs",
                              "3", "--out", str(out), "--json"])
    summary = _json(res)
    assert summary["run_dir"] == str(out) and summary["epoch"] == 3
    return out


def test_eval_matches_training_summary(trained: Path) -> None:
    summary = _json(runner.invoke(app, ["eval", str(trained), "--json"]))
    last = json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])
    assert summary["accuracy"] == pytest.approx(last["test_acc"])
    assert summary["dataset"] == "digits" and summary["n"] > 300
    part = _json(runner.invoke(app, ["eval", str(trained), "--n", "10", "--json"]))
    assert part["n"] == 10


def test_eval_human_output(trained: Path) -> None:
    res = runner.invoke(app, ["eval", str(trained)])
    assert res.exit_code == 0 and "accuracy" in res.stdout


def test_models_show_counts_neurons() -> None:
    info = _json(runner.invoke(app, ["models", "--show", "conv-small", "--json"]))
    assert info["relu_neurons"] == 3604
    info = _json(runner.invoke(app, ["models", "--show", "conv-small", "--data", "cifar10",
                                     "--json"]))
    assert info["relu_neurons"] == 4852
    listing = _json(runner.invoke(app, ["models", "--json"]))
    assert {"conv-small", "cnn7", "dm-large", "cnn1-bn2"} <= {m["name"] for m in
                                                              listing["models"]}
    res = runner.invoke(app, ["models", "--show", "cnn7"])
    assert res.exit_code == 0 and "ReLU neurons" in res.stdout


def test_datasets_lists_the_registry(tmp_path: Path) -> None:
    info = _json(runner.invoke(app, ["datasets", "--data-dir", str(tmp_path), "--json"]))
    rows = {r["name"]: r for r in info["datasets"]}
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "svhn", "gtsrb"} <= set(rows)
    assert rows["digits"]["available"] and not rows["mnist"]["available"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--model", "nope"], "unknown model 'nope'"),
        (["train", "--data", "imagenet"], "unknown dataset"),
        (["train", "--method", "magic"], "valid: standard"),
        (["train", "--epochs", "0"], "epochs must be >= 1"),
        (["train", "--data", "mnist", "--data-dir", "{tmp}"], "--download"),
        (["eval", "{tmp}/missing"], "not found"),
        (["models", "--show", "resnet50"], "unknown model"),
        (["train", "--config", "{tmp}/bad.yaml"], "unknown config key 'bogus'"),
        (["train", "--resume", "{tmp}"], "config.yaml"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], match: str) -> None:
    (tmp_path / "bad.yaml").write_text("bogus: 1\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")] if args[0] == "train"
                        else args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert match in " ".join(res.output.split())
    assert not (tmp_path / "o" / "model.json").exists()


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", str(tmp_path / "missing"), "--debug"])
    assert isinstance(res.exception, CertkitError)


def test_corrupt_checkpoint_via_cli(trained: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    res = runner.invoke(app, ["eval", str(bad)])
    assert res.exit_code == 2 and "does not match" in res.output


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    summary = _json(runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--json"]))
    def step(prefix: str) -> dict:
        return next(v for k, v in summary.items() if k.startswith(prefix))

    clean = step("train standard")["test_acc"]
    assert clean > 0.9
    attacked, certified = step("PGD"), step("certify")
    # certified <= attacked <= clean for each network, and IBP training certifies far more
    assert certified["standard_crown_certified"] <= attacked["standard_pgd_acc"] <= clean
    ibp_clean = step("train IBP")["test_acc"]
    assert certified["ibp_crown_certified"] <= attacked["ibp_pgd_acc"] <= ibp_clean
    assert certified["ibp_ibp_certified"] > certified["standard_ibp_certified"] + 0.3
    assert (tmp_path / "demo" / "standard" / "model.json").exists()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("certkit ")
