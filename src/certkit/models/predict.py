"""Batched inference helpers shared by training, evaluation and later analyses."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode (mode restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else x.new_zeros((0,))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of ``x`` classified as ``y`` (eval mode)."""
    if x.shape[0] == 0:
        return float("nan")
    pred = predict_logits(model, x, batch_size).argmax(dim=1)
    return float((pred == y.to(pred.device)).float().mean())
