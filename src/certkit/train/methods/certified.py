"""The shared core of the bound-based methods (IBP, CROWN-IBP, SABR): the robust CE loss.

For a region around ``x`` a bound method gives lower bounds ``m_j`` of the logit margins
``z_y - z_j``; the *robust cross-entropy* is the CE of the worst-case logits ``-m`` (``-m_y
= 0``): ``log(1 + sum_{j != y} exp(-m_j))``, an upper bound of the CE of every point of the
region (SABR eq. 5). The loss is ``kappa * CE(x) + (1 - kappa) * robust CE``, plus Shi et
al.'s warm-up regularisers while eps ramps up.

IBP margins are computed with the last affine layer folded into the margin specification
("elision", Gowal et al. 2018): the bounds of ``(W_y - W_j) h + b_y - b_j`` over the box of the
penultimate activations ``h``, tighter than subtracting the logits' intervals.

BatchNorm in train mode: the bound engine normalises with the batch statistics of the clean
``x`` (passed as the clean input), and a forward pass of ``x`` updates the running statistics,
exactly as in standard training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...bounds import BoundResult, propagate
from ...bounds.ibp import folded_spec_interval
from ...specs.base import Lifted
from ..config import TrainConfig
from ..regularisers import warmup_regulariser
from .base import LossOutput, StepContext, TrainingMethod
from .common import has_train_batchnorm, scalars


def margin_rows(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """Specification ``C`` of shape (B, K, K): row ``j`` is ``e_y - e_j`` (row ``y`` is 0)."""
    eye = torch.eye(num_classes, dtype=dtype, device=y.device)
    return eye[y].unsqueeze(1) - eye.unsqueeze(0)


def robust_cross_entropy(margin_lower: Tensor, y: Tensor) -> Tensor:
    """Mean CE of the worst-case logits ``-margin_lower`` (B, K) whose column ``y`` is 0."""
    return F.cross_entropy(-margin_lower, y)


def ibp_margins(res: BoundResult, y: Tensor) -> Tensor:
    """Lower bounds (B, K) of ``z_y - z_j`` from interval bounds, eliding a final Linear."""
    out = res.nodes[res.graph.output][0]
    C = margin_rows(y, out[0].numel(), out.dtype)
    return folded_spec_interval(res.graph, res.nodes, C)[0]


def default_warmup_weight(model: nn.Module) -> float:
    """Shi et al.'s 0.5 for networks with BatchNorm; 0 for the others.

    Without BatchNorm the tightness term is met by shrinking every weight, which also shrinks
    the signal: on conv-small and MLPs it makes training collapse to a constant prediction.
    """
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return 0.5 if has_bn else 0.0


class CertifiedTraining(TrainingMethod):
    """Base of the bound-based methods; subclasses choose the region and the bounds."""

    uses_eps = True
    certified = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.kappa = float(cfg.kappa)
        self.reg_weight = None if cfg.warmup_reg is None else float(cfg.warmup_reg)
        self.reg_tol = float(cfg.warmup_reg_tol)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> CertifiedTraining:
        return cls(cfg)

    # ----- what subclasses vary -----
    def region(self, model: nn.Module, x: Tensor, y: Tensor,
               eps: float) -> tuple[Tensor, Tensor]:
        """The box propagated: the Linf eps-ball around ``x`` within [0, 1]."""
        return (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)

    def margins(self, model: nn.Module, region: Lifted, y: Tensor,
                ctx: StepContext) -> tuple[Tensor, Tensor, BoundResult]:
        """``(clean logits, margin lower bounds (B, K), bound result)`` over the region."""
        res = propagate(model, region, method="ibp")
        logits = res.graph.clean_output
        assert logits is not None
        if has_train_batchnorm(model):
            with torch.no_grad():
                model(region.clean)  # the running statistics follow the clean batch
        return logits, ibp_margins(res, y), res

    # ----- the loss -----
    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> LossOutput:
        if ctx.eps <= 0:  # a point: the robust loss is the natural one
            logits = model(x)
            return LossOutput(F.cross_entropy(logits, y), logits)
        lo, hi = self.region(model, x, y, ctx.eps)
        logits, lower, res = self.margins(model, Lifted(lo, hi, x), y, ctx)
        robust = robust_cross_entropy(lower, y)
        natural = F.cross_entropy(logits, y)
        loss = self.kappa * natural + (1.0 - self.kappa) * robust if self.kappa else robust
        extras = scalars(robust_loss=robust, natural_loss=natural)
        if self.reg_weight is None:
            self.reg_weight = default_warmup_weight(model)
        weight = self.regulariser_weight(ctx)
        if weight > 0:
            reg = warmup_regulariser(res, self.reg_tol)
            loss = loss + weight * reg
            extras.update(scalars(warmup_reg=reg))
        return LossOutput(loss, logits, extras)

    def regulariser_weight(self, ctx: StepContext) -> float:
        """``warmup_reg * (1 - eps_t / eps)`` while eps ramps up, else 0."""
        target = ctx.config.eps
        if not self.reg_weight or target <= 0 or not 0 < ctx.eps < target:
            return 0.0
        return self.reg_weight * (1.0 - ctx.eps / target)
