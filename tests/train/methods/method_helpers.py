"""Helpers for the training-method tests: tiny hand-made networks, configs, contexts."""

from __future__ import annotations

import torch
from torch import nn

from certkit.train import make_config
from certkit.train.config import TrainConfig
from certkit.train.methods import StepContext


def tiny_net() -> nn.Sequential:
    """2 -> 2 -> 2 ReLU network with hand-picked weights (bounds computable by hand)."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        net[2].weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
        net[2].bias.copy_(torch.tensor([0.5, 0.0]))
    return net


def ctx(cfg: TrainConfig, eps: float | None = None) -> StepContext:
    """A step context at ``eps`` (default: the config's target eps)."""
    return StepContext(eps=cfg.eps if eps is None else eps, epoch=0, frac=0.0, config=cfg)


def config(**kw) -> TrainConfig:
    """A validated config on digits (defaults for everything not given)."""
    return make_config(data="digits", **kw)
