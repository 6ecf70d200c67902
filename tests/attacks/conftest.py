"""Fixtures for the attack tests: digits data, a standard-trained MLP, a linear model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.models import build_model


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 40,
          lr: float = 1e-2, seed: int = 0) -> nn.Module:
    """Plain full-batch-ish Adam training; returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 256):
            b = perm[i:i + 256]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn digits in [0, 1], shape (N, 1, 8, 8): (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="session")
def digits_mlp(digits: tuple[torch.Tensor, ...]) -> nn.Module:
    """A standard-trained zoo MLP (Normalize, 2 hidden layers of 64) on digits."""
    torch.manual_seed(0)
    model = build_model("mlp-3x64", (1, 8, 8), 10, [0.3], [0.4])
    return train(model, digits[0], digits[1])


@pytest.fixture
def linear_model() -> nn.Module:
    """A random linear classifier on (1, 8, 8) inputs with 10 classes."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()


@pytest.fixture
def batch(digits: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """32 test digits and labels."""
    return digits[2][:32], digits[3][:32]
