"""Fixtures of the study tests: a small standard-trained digits MLP saved as a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from certkit.models import build_model
from certkit.runs import save_model


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(d.target, dtype=torch.long)


@pytest.fixture(scope="session")
def studies_mlp(digits_tensors: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    """mlp-3x32 trained 15 epochs on digits (clean CE)."""
    torch.manual_seed(0)
    x, y = digits_tensors
    model = build_model("mlp-3x32", (1, 8, 8), 10, [0.3055], [0.376])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 128):
            b = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def studies_run(tmp_path_factory: pytest.TempPathFactory, studies_mlp: nn.Module) -> Path:
    out = tmp_path_factory.mktemp("studies") / "run"
    meta = {"architecture": "mlp-3x32", "input_shape": [1, 8, 8], "num_classes": 10,
            "mean": [0.3055], "std": [0.376], "dataset": {"name": "digits"},
            "method": "ibp", "eps": 0.05}
    save_model(out, studies_mlp, meta)
    return out
