"""Layer-by-layer description of a model: output shapes and neuron counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a described model."""

    index: int
    layer: str
    output_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class ModelSummary:
    """What ``certkit models --show`` prints."""

    layers: list[LayerInfo]
    relu_neurons: int  # activations after every ReLU: the count the papers report
    parameters: int


def describe(model: nn.Sequential, input_shape: Sequence[int]) -> ModelSummary:
    """Run one dummy input through ``model`` and record every layer's output shape."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape)
    infos: list[LayerInfo] = []
    neurons = 0
    with torch.no_grad():
        for i, layer in enumerate(model):
            x = layer(x)
            shape = tuple(x.shape[1:])
            n_params = sum(p.numel() for p in layer.parameters())
            infos.append(LayerInfo(i, repr(layer), shape, n_params))
            if isinstance(layer, nn.ReLU):
                neurons += math.prod(shape)
    model.train(was_training)
    return ModelSummary(infos, neurons, sum(p.numel() for p in model.parameters()))
