"""Method options on the command line and in YAML; ``certkit eval --all``; clear errors."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml
from method_helpers import config
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.cli.cmd_train import train_command
from certkit.errors import CertkitError
from certkit.train.config import field_names

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sabr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "sabr"
    args = ["train", "--data", "digits", "--model", "mlp-2x32", "--train-size", "300",
            "--epochs", "3", "--method", "sabr", "--eps", "0.05", "--eps-schedule", "smoothed",
            "--eps-ramp-epochs", "2", "--lambda", "0.5", "--attack-steps", "2", "--kappa",
            "0.1", "--l1", "1e-6", "--no-ibp-init", "--out", str(out), "--json"]
    summary = _json(runner.invoke(app, args))
    assert summary["eps"] == 0.05
    return out


def test_every_config_field_is_a_train_option() -> None:
    params = set(inspect.signature(train_command).parameters)
    assert set(field_names()) <= params


def test_method_options_reach_the_saved_config(sabr_run: Path) -> None:
    cfg = yaml.safe_load((sabr_run / "config.yaml").read_text())
    assert (cfg["method"], cfg["sabr_lambda"], cfg["attack_steps"], cfg["kappa"]) == (
        "sabr", 0.5, 2, 0.1)
    assert cfg["l1"] == 1e-6 and cfg["ibp_init"] is False
    assert json.loads((sabr_run / "model.json").read_text())["method"] == "sabr"


def test_eval_all_reports_clean_pgd_and_certified(sabr_run: Path) -> None:
    args = ["eval", str(sabr_run), "--all", "--eps", "0.1", "--n", "60", "--pgd-steps", "5",
            "--pgd-restarts", "1", "--json"]
    s = _json(runner.invoke(app, args))
    assert s["eps"] == [0.05, 0.1] and s["n"] == 60
    for e in ("0.05", "0.1"):
        pgd, ibp, crown = (s[f"{k}@{e}"] for k in ("pgd_accuracy", "ibp_certified",
                                                    "crown_certified"))
        assert s["accuracy"] >= pgd >= max(ibp, crown) >= 0
    assert s["crown_certified@0.05"] >= s["crown_certified@0.1"]
    rows = (sabr_run / "results.jsonl").read_text().splitlines()
    assert json.loads(rows[-1])["command"] == "eval"
    plain = _json(runner.invoke(app, ["eval", str(sabr_run), "--n", "60", "--json"]))
    assert plain["accuracy"] == pytest.approx(s["accuracy"])


def test_eval_eps_needs_all_and_some_eps(sabr_run: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", str(sabr_run), "--eps", "0.1"])
    assert res.exit_code == 2 and "--all" in res.output
    std = tmp_path / "std"
    _json(runner.invoke(app, ["train", "--data", "digits", "--model", "mlp-2x16", "--epochs",
                              "1", "--out", str(std), "--json"]))
    res = runner.invoke(app, ["eval", str(std), "--all"])
    assert res.exit_code == 2 and "--eps" in res.output


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        ({"method": "ibp"}, "pass --eps > 0"),
        ({"method": "fgsm-at", "eps": 0.1, "alpha": 1.5}, "alpha must be"),
        ({"method": "sabr", "eps": 0.1, "sabr_lambda": 0.0}, "sabr_lambda must be"),
        ({"method": "trades", "eps": 0.1, "beta": -1.0}, "beta must be"),
        ({"method": "ibp", "eps": 0.1, "kappa": 2.0}, "kappa must be"),
        ({"method": "pgd-at", "eps": 0.1, "attack_steps": 0}, "attack_steps must be"),
        ({"method": "gaussian", "sigma": 0.0}, "--sigma > 0"),
        ({"method": "oe"}, "--ood-train"),
        ({"method": "standard", "ood_train": "mnist"}, "used by method 'oe' only"),
        ({"l1": -1.0}, "l1 must be >= 0"),
        ({"eps_schedule": "exp"}, "valid: constant, linear, smoothed"),
    ],
)
def test_bad_method_options_give_one_clear_error(opts: dict, match: str) -> None:
    with pytest.raises(CertkitError, match=match):
        config(**opts)
