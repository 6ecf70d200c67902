"""Fixtures of the smoothing tests: a small digits MLP trained with Gaussian noise, as a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from certkit.models import build_model
from certkit.runs import save_model


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(d.target, dtype=torch.long)


@pytest.fixture(scope="session")
def noisy_mlp() -> nn.Module:
    """mlp-2x32 on digits trained 40 epochs with Gaussian noise of std 0.25."""
    torch.manual_seed(0)
    x, y = _digits()
    model = build_model("mlp-2x32", (1, 8, 8), 10, [0.3055], [0.376])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 128):
            b = perm[i:i + 128]
            opt.zero_grad()
            noisy = x[b] + 0.25 * torch.randn_like(x[b])
            nn.functional.cross_entropy(model(noisy), y[b]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def smoothing_run_dir(tmp_path_factory: pytest.TempPathFactory, noisy_mlp: nn.Module) -> Path:
    out = tmp_path_factory.mktemp("smoothing") / "run"
    meta = {"architecture": "mlp-2x32", "input_shape": [1, 8, 8], "num_classes": 10,
            "mean": [0.3055], "std": [0.376], "dataset": {"name": "digits"},
            "method": "gaussian"}
    save_model(out, noisy_mlp, meta)
    return out
