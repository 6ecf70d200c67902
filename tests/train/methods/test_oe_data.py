"""Outlier exposure on real outlier sets (MNIST in, Fashion-MNIST out); skipped without data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from certkit.data import load_dataset
from certkit.errors import CertkitError
from certkit.train import train
from certkit.train.methods import get_method
from certkit.train.methods.oe import OutlierExposure

pytestmark = pytest.mark.realdata
BASE = {"data": "mnist", "model": "mlp-2x64", "train_size": 1000, "test_size": 200,
        "epochs": 2, "batch_size": 100, "lr": 3e-3, "progress": False}


def _msp(model: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(x), 1).amax(1).mean())


def test_outlier_set_must_match_the_input_shape(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CertkitError, match="same shape"):
        train(data="digits", method="oe", ood_train="mnist", data_dir=str(shared_data),
              epochs=1, progress=False, out=str(tmp_path / "r"))


def test_oe_lowers_confidence_on_held_out_outliers(shared_data: Path, tmp_path: Path) -> None:
    opts = {**BASE, "data_dir": str(shared_data)}
    plain = train(**opts, out=str(tmp_path / "plain")).model
    oe = train(**opts, method="oe", ood_train="fashion-mnist", ood_train_size=1000,
               out=str(tmp_path / "oe"))
    method = get_method(oe.config)
    assert isinstance(method, OutlierExposure) and method.outliers.shape[0] == 1000
    held_out = load_dataset("fashion-mnist", data_dir=shared_data, test_size=300).test.x
    assert _msp(oe.model, held_out) < _msp(plain, held_out) - 0.2
    assert oe.metrics["test_acc"] > 0.75
