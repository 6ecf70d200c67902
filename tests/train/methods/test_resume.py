"""Attack- and bound-based runs resume bit-identically (as tests/train/test_loop.py does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from certkit import load_run
from certkit.train import train

BASE = {"data": "digits", "model": "cnn1-bn1", "train_size": 256, "batch_size": 64,
        "epochs": 3, "lr": 2e-3, "seed": 4, "progress": False}
CASES = {
    # attack RNG (PGD random starts), BatchNorm buffers, dropout
    "pgd-at": {"method": "pgd-at", "eps": 0.1, "attack_steps": 3},
    # bounds with train-mode BatchNorm, PGD centres, IBP init, warm-up regulariser, L1
    "sabr": {"method": "sabr", "eps": 0.1, "eps_schedule": "smoothed", "eps_ramp_epochs": 2,
             "attack_steps": 3, "l1": 1e-5},
}


def _rows(run: Path) -> list[dict]:
    strip = ("seconds", "examples_per_s")
    return [{k: v for k, v in json.loads(line).items() if k not in strip}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", list(CASES))
def test_interrupted_run_resumes_bit_identically(tmp_path: Path, case: str) -> None:
    opts = {**BASE, **CASES[case]}
    train(**opts, out=str(tmp_path / "full"))

    def stop(epoch: int, row: dict) -> None:
        if epoch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(**opts, out=str(tmp_path / "cut"), callbacks=[stop])
    torch.manual_seed(999)  # the caller's RNG state must not matter
    train(resume=tmp_path / "cut", progress=False)
    a, b = load_run(tmp_path / "full").model.state_dict(), load_run(tmp_path / "cut").model
    for k, v in b.state_dict().items():
        assert torch.equal(a[k], v), k
    assert _rows(tmp_path / "full") == _rows(tmp_path / "cut")
