"""Bias-field robust training (Henriksen & Lomuscio 2023): RSIP-IBP and RSIP-SSIP.

Every sample gets its transform network ``N_{T,x}`` (the model behind the bias-field layer
``W_{T,x}`` and the clipping layer, :class:`~certkit.specs.BiasField`), bounded over the box
of coefficients of radius ``eps`` (the current value of the eps schedule). The loss is
eq. 7, ``L = CE(N(x), y) + alpha * mean_batch L_rob``, with the hinge robust loss of eq. 6,
``L_rob = sum_{i != y} max(0, upper bound of N_{T,x}(a)_i - N_{T,x}(a)_y over the box)``,
set to 0 for misclassified samples (the paper's section 5). The upper bounds come from
back-substitution (RSIP = CROWN) with intermediate bounds from interval propagation
(``rsip-ibp``, i.e. CROWN-IBP) or from the tighter of interval and forward symbolic
propagation (``rsip-ssip``, Algorithm 1). While eps is 0 (pre-training) the loss is CE.
"""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from ...bounds import propagate
from ...errors import CertkitError, choice_error
from ...specs.biasfield import BiasField
from ..config import TrainConfig
from .base import LossOutput, StepContext, TrainingMethod
from .certified import margin_rows
from .common import scalars

FIELDS = ("multiplicative", "additive", "both")


def bias_field_of(cfg: TrainConfig, eps: float) -> BiasField:
    """The configured bias field (``bias_order``, ``bias_field``) at radius ``eps``."""
    if cfg.bias_field not in FIELDS:
        raise choice_error("bias field", cfg.bias_field, FIELDS)
    return BiasField(order=cfg.bias_order, eps=eps,
                     multiplicative=cfg.bias_field != "additive",
                     additive=cfg.bias_field != "multiplicative")


def hinge_robust_loss(margin_lower: Tensor) -> Tensor:
    """Eq. 6 per sample: ``sum_j max(0, -m_j)`` for lower bounds ``m_j`` of ``z_y - z_j``."""
    return F.relu(-margin_lower).sum(dim=1)


class _RSIP(TrainingMethod):
    """The shared loss; subclasses name the bound method of the intermediate layers."""

    uses_eps = True
    certified = False  # pre-trained with CE, as in the paper: no IBP init / warm-up terms
    bound_method: ClassVar[str]

    def __init__(self, cfg: TrainConfig) -> None:
        if not (cfg.rsip_alpha >= 0 and cfg.rsip_alpha < float("inf")):
            raise CertkitError(f"rsip_alpha must be a finite number >= 0, got {cfg.rsip_alpha}")
        bias_field_of(cfg, 0.0)  # validates order and field now, not at the first step
        self.cfg, self.alpha = cfg, float(cfg.rsip_alpha)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TrainingMethod:
        return cls(cfg)

    def robust_terms(self, model: nn.Module, x: Tensor, y: Tensor, eps: float,
                     num_classes: int) -> Tensor:
        """Per-sample hinge loss (B,) of eq. 6 over the bias-field box of radius ``eps``."""
        spec = bias_field_of(self.cfg, eps)(x)
        C = margin_rows(y, num_classes, x.dtype)
        lower = propagate(model, spec, method=self.bound_method, C=C, which="lower").lower
        return hinge_robust_loss(lower)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> LossOutput:
        if x.dim() != 4:
            raise CertkitError(f"{self.name} trains against bias fields on images (B, C, H, W); "
                               f"got inputs of shape {tuple(x.shape)}")
        logits = model(x)
        natural = F.cross_entropy(logits, y)
        if ctx.eps <= 0 or self.alpha == 0:
            return LossOutput(natural, logits)
        correct = (logits.detach().argmax(1) == y).nonzero().flatten()
        robust = logits.new_zeros(())
        if correct.numel():
            robust = self.robust_terms(model, x[correct], y[correct], ctx.eps,
                                       logits.shape[1]).sum() / x.shape[0]
        loss = natural + self.alpha * robust
        extras = scalars(robust_loss=robust, natural_loss=natural)
        extras["robust_frac"] = float(correct.numel()) / x.shape[0]
        return LossOutput(loss, logits, extras)


class RSIPIBP(_RSIP):
    """RSIP-IBP: back-substitution over interval intermediate bounds (CROWN-IBP)."""

    name = "rsip-ibp"
    summary = "CE + alpha * bias-field hinge loss, RSIP over IBP intermediate bounds"
    reference = "Henriksen & Lomuscio 2023 (ROBNET); Zhang et al. 2020 (CROWN-IBP)"
    bound_method = "crown-ibp"


class RSIPSSIP(_RSIP):
    """RSIP-SSIP (Algorithm 1): back-substitution over the tighter of IBP and SSIP bounds."""

    name = "rsip-ssip"
    summary = "CE + alpha * bias-field hinge loss, RSIP over IBP/SSIP intermediate bounds"
    reference = "Henriksen & Lomuscio 2023 (ROBNET), Algorithm 1"
    bound_method = "rsip-ssip"


__all__ = ["RSIPIBP", "RSIPSSIP", "bias_field_of", "hinge_robust_loss"]
