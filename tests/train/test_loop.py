"""The training loop: it learns, writes a complete run directory, and resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from certkit import load_run
from certkit.errors import CertkitError
from certkit.train import train

FAST = {"data": "digits", "model": "mlp-2x64", "epochs": 3, "batch_size": 64, "lr": 3e-3,
        "progress": False}
# exercises dropout (global RNG), BatchNorm buffers, Adam state and a per-step schedule
RESUMABLE = {"data": "digits", "model": "cnn1-bn1", "epochs": 4, "batch_size": 64,
             "lr": 2e-3, "lr_schedule": "cosine", "seed": 3, "progress": False}


def test_standard_training_learns_digits(tmp_path: Path) -> None:
    res = train(**{**FAST, "epochs": 8}, out=str(tmp_path / "r"))
    assert res.metrics["test_acc"] > 0.9
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in rows] == list(range(1, 9))
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["complete"] and meta["epochs_completed"] == 8
    assert meta["dataset"]["name"] == "digits" and meta["method"] == "standard"
    assert meta["mean"] and meta["std"] and meta["certkit_version"]
    loaded = load_run(tmp_path / "r")
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(loaded.model(x), res.model.eval()(x))


def test_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    train(**FAST, out=str(tmp_path / "r"))
    with pytest.raises(CertkitError, match="--resume"):
        train(**FAST, out=str(tmp_path / "r"))
    train(**FAST, out=str(tmp_path / "r"), overwrite=True)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_run(run).model.state_dict()


def _assert_same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    strip = ("seconds", "examples_per_s")
    rows_a = [{k: v for k, v in json.loads(x).items() if k not in strip}
              for x in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [{k: v for k, v in json.loads(x).items() if k not in strip}
              for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert rows_a == rows_b


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    train(**RESUMABLE, out=str(tmp_path / "full"))

    def stop_after_second(epoch: int, row: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(**RESUMABLE, out=str(tmp_path / "cut"), callbacks=[stop_after_second])
    meta = json.loads((tmp_path / "cut" / "model.json").read_text())
    assert meta["complete"] is False and meta["epochs_completed"] == 2
    torch.manual_seed(12345)  # resuming must not depend on the caller's RNG state
    train(resume=tmp_path / "cut", progress=False)
    _assert_same_run(tmp_path / "full", tmp_path / "cut")


def test_killed_process_resumes_bit_identically(tmp_path: Path) -> None:
    args = ["--data", "digits", "--model", "cnn1-bn1", "--epochs", "10", "--batch-size", "32",
            "--lr", "1e-3", "--lr-schedule", "cosine", "--seed", "1", "--no-progress"]
    cut = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "certkit.cli", "train", *args, "--out",
                             str(cut)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    metrics = cut / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((cut / "model.json").read_text())["complete"] is False

    from typer.testing import CliRunner

    from certkit.cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "--resume", str(cut), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["train", *args, "--out", str(tmp_path / "full")]).exit_code == 0
    _assert_same_run(tmp_path / "full", cut)


def test_resume_rejects_new_options(tmp_path: Path) -> None:
    train(**FAST, out=str(tmp_path / "r"))
    with pytest.raises(CertkitError, match="saved config"):
        train(resume=tmp_path / "r", epochs=10)
    with pytest.raises(CertkitError, match="config.yaml"):
        train(resume=tmp_path / "nothing")


def test_grad_clip_and_sgd_milestones_run(tmp_path: Path) -> None:
    res = train(**{**FAST, "lr": 0.05}, optimizer="sgd", lr_schedule="milestones",
                milestones=[2], grad_clip=1.0, val_size=100, out=str(tmp_path / "r"))
    assert res.metrics["lr"] == pytest.approx(0.005)
    assert 0.0 <= res.metrics["val_acc"] <= 1.0


def test_progress_bar_shows_epoch_loss_and_rate(tmp_path: Path, capsys) -> None:
    train(**{**FAST, "progress": True}, out=str(tmp_path / "r"))
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "loss" in err and "ex/s" in err
