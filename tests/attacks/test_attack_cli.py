"""``certkit attack`` end to end on a digits run: summary, --json, examples, grid, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.runs import save_model

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, digits_mlp: nn.Module) -> Path:
    pytest.importorskip("certkit.data")
    out = tmp_path_factory.mktemp("attack") / "run"
    meta = {"architecture": "mlp-3x64", "input_shape": [1, 8, 8], "num_classes": 10,
            "mean": [0.3], "std": [0.4], "dataset": {"name": "digits"}}
    save_model(out, digits_mlp, meta)
    return out


def _json(res: object) -> dict:
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]


def test_attack_json_examples_and_grid(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    npz, png = tmp_path / "ex.npz", tmp_path / "grid.png"
    out = _json(runner.invoke(app, [
        "attack", str(run_dir), "--attack", "pgd", "--eps", "0.1", "--steps", "10",
        "--restarts", "2", "--loss", "margin", "--n", "60", "--json",
        "--save-examples", str(npz), "--grid", str(png)]))
    assert out["n"] == 60 and out["dataset"] == "digits" and out["norm"] == "linf"
    assert 0.0 <= out["robust_accuracy"] < out["clean_accuracy"] <= 1.0
    with np.load(npz) as f:
        assert f["x_adv"].shape == (60, 1, 8, 8)
        assert np.abs(f["x_adv"] - f["x"]).max() <= 0.1 + 1e-6
        robust = ((f["pred_clean"] == f["y"]) & (f["pred_adv"] == f["y"])).mean()
    assert robust == pytest.approx(out["robust_accuracy"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("attack", ["fgsm", "apgd-ce", "apgd-dlr"])
def test_attack_table_output(run_dir: Path, attack: str) -> None:
    res = runner.invoke(app, ["attack", str(run_dir), "--attack", attack, "--eps", "0.5",
                              "--norm", "l2", "--steps", "5", "--n", "20"])
    assert res.exit_code == 0, res.output
    assert "robust_accuracy" in res.stdout and "clean_accuracy" in res.stdout


def test_library_and_cli_agree(run_dir: Path) -> None:
    from certkit.analysis import attack_run

    lib = attack_run(run_dir, attack="fgsm", eps=0.1, n=30)
    cli = _json(runner.invoke(app, ["attack", str(run_dir), "--attack", "fgsm", "--eps", "0.1",
                                    "--n", "30", "--json"]))
    assert lib["robust_accuracy"] == cli["robust_accuracy"]


@pytest.mark.parametrize("args,msg", [
    (["--eps", "-0.1"], "eps"),
    (["--steps", "0"], "steps"),
    (["--restarts", "0"], "restarts"),
    (["--attack", "deepfool"], "unknown attack"),
    (["--loss", "hinge"], "unknown attack loss"),
    (["--norm", "l1"], "unknown norm"),
    (["--n", "0"], "n must be"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "nope"],
     "device"),
])
def test_bad_options_exit_2(run_dir: Path, args: list[str], msg: str) -> None:
    res = runner.invoke(app, ["attack", str(run_dir), *args])
    assert res.exit_code == 2
    assert msg in res.output and "Traceback" not in res.output


def test_missing_run_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["attack", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not found" in res.output
