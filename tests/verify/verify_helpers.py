"""A small trained network for the certification tests."""

from __future__ import annotations

import torch
from torch import nn

from certkit.models import build_model


def train_quickly(arch: str, x: torch.Tensor, y: torch.Tensor, mean: tuple[float, ...],
                  std: tuple[float, ...], epochs: int, seed: int = 0) -> nn.Module:
    """A few epochs of Adam on (x, y); returns the model in eval mode."""
    torch.manual_seed(seed)
    model = build_model(arch, tuple(x.shape[1:]), 10, mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
