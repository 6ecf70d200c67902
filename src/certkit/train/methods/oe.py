"""Outlier exposure (Hendrycks et al. 2019): uniform predictions on an outlier set."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import CertkitError
from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .common import scalars


def uniform_target_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean CE to the uniform distribution: ``-(1/K) sum_k log softmax(z)_k`` per row."""
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()


def load_outliers(cfg: TrainConfig) -> torch.Tensor:
    """The training images of ``cfg.ood_train`` (checked to match the in-distribution shape)."""
    from ...data import get_info, load_dataset

    if not cfg.ood_train:
        raise CertkitError("method 'oe' needs an outlier training set: --ood-train DATASET")
    expected = tuple(get_info(cfg.data, cfg.classes).input_shape)
    got = tuple(get_info(cfg.ood_train).input_shape)  # checked before reading any file
    if got != expected:
        raise CertkitError(f"outlier set {cfg.ood_train!r} has inputs of shape {got}, but "
                           f"{cfg.data!r} has {expected}; outlier exposure needs the same shape")
    splits = load_dataset(cfg.ood_train, data_dir=cfg.data_dir, download=cfg.download,
                          train_size=cfg.ood_train_size, seed=cfg.seed)
    return splits.train.x


class OutlierExposure(TrainingMethod):
    """``CE(f(x), y) + weight * CE(f(x_out), uniform)``; ``--ood-train``, ``--oe-weight``.

    Every step draws as many outliers as the batch has inputs, uniformly with replacement
    from torch's global generator (so runs resume bit-identically); inputs and outliers go
    through the network as one batch, as in Hendrycks et al.
    """

    name = "oe"
    summary = "CE in-distribution + weight * CE to the uniform distribution on outliers"
    reference = "Hendrycks et al. 2019 (outlier exposure); certification-ROC paper section 4.2"

    def __init__(self, outliers: torch.Tensor, weight: float) -> None:
        if outliers.shape[0] == 0:
            raise CertkitError("the outlier set is empty")
        self.outliers, self.weight = outliers, float(weight)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> OutlierExposure:
        return cls(load_outliers(cfg), cfg.oe_weight)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             ctx: StepContext) -> LossOutput:
        idx = torch.randint(self.outliers.shape[0], (x.shape[0],))
        if self.outliers.device != x.device:
            self.outliers = self.outliers.to(x.device)
        out = self.outliers[idx.to(x.device)]
        z = model(torch.cat([x, out]))
        logits, z_out = z[: x.shape[0]], z[x.shape[0]:]
        ce = F.cross_entropy(logits, y)
        uniform = uniform_target_loss(z_out)
        return LossOutput(ce + self.weight * uniform, logits,
                          scalars(ce=ce, outlier_loss=uniform))
