"""CROWN-IBP (Zhang et al. 2020): a beta-mix of CROWN-IBP and IBP margin bounds."""

from __future__ import annotations

from torch import Tensor, nn

from ...bounds import BoundResult, propagate
from ...specs.base import Lifted
from .base import StepContext
from .certified import CertifiedTraining, ibp_margins, margin_rows


def crown_ibp_beta(ctx: StepContext) -> float:
    """Weight of the CROWN-IBP bounds: 1 at the start of the eps ramp, 0 once eps is reached.

    It falls linearly with ``eps_t / eps`` (with a linear eps schedule: linearly in time, as
    in Zhang et al.; with the smoothed one it follows the ramp's shape).
    """
    target = ctx.config.eps
    if target <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - ctx.eps / target))


class CrownIBP(CertifiedTraining):
    """Margins ``beta * m_CROWN-IBP + (1 - beta) * m_IBP``, ``beta`` from 1 to 0 over the ramp.

    CROWN-IBP back-substitutes the margin specification through the network with linear
    ReLU relaxations built from interval intermediate bounds; the IBP margins reuse those
    same interval bounds, so the mix costs one backward bound pass while ``beta > 0``.
    """

    name = "crown-ibp"
    summary = "robust CE on a beta-mix of CROWN-IBP and IBP bounds (beta 1 -> 0 over the ramp)"
    reference = "Zhang et al. 2020 (CROWN-IBP)"

    def margins(self, model: nn.Module, region: Lifted, y: Tensor,
                ctx: StepContext) -> tuple[Tensor, Tensor, BoundResult]:
        beta = crown_ibp_beta(ctx)
        if beta <= 0:
            return super().margins(model, region, y, ctx)
        logits = model(region.clean)  # also updates BatchNorm's running statistics
        C = margin_rows(y, logits.shape[1], logits.dtype)
        res = propagate(model, region, method="crown-ibp", C=C, which="lower")
        lower = res.lower
        if beta < 1:
            lower = beta * lower + (1.0 - beta) * ibp_margins(res, y)
        return logits, lower, res
