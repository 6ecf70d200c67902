"""SABR (Müller et al. 2023): IBP over a small box around an adversarial point."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import TrainConfig
from .certified import CertifiedTraining
from .common import pgd_point


def sabr_region(x: Tensor, x_adv: Tensor, eps: float, lam: float) -> tuple[Tensor, Tensor]:
    """The propagation region of SABR section 3, as a box within [0, 1].

    Radius ``tau = lam * eps``; centre ``x_adv`` projected onto the ``(eps - tau)``-ball
    around ``x``, so the region lies inside the eps-ball. ``lam = 1`` gives exactly the
    eps-ball (the IBP region); ``lam -> 0`` shrinks it to the point ``x_adv``.
    """
    tau = lam * eps
    r = eps - tau
    centre = torch.maximum(torch.minimum(x_adv, x + r), x - r)
    return (centre - tau).clamp(min=0.0), (centre + tau).clamp(max=1.0)


class SABR(CertifiedTraining):
    """Robust CE on IBP bounds of the SABR propagation region (``--sabr-lambda``).

    The centre comes from a CE PGD attack on the eps-ball (``--attack-steps``,
    ``--attack-restarts``, ``--attack-step-size``); at ``lambda = 1`` no attack is needed and
    the loss is the IBP loss. The result is not a sound bound on the eps-ball's loss: it
    interpolates between adversarial (lambda -> 0) and IBP training (lambda = 1).
    """

    name = "sabr"
    summary = "robust CE on IBP bounds of a small box (radius lambda * eps) around a PGD point"
    reference = "Müller et al. 2023 (SABR), section 3"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.lam = float(cfg.sabr_lambda)

    def region(self, model: nn.Module, x: Tensor, y: Tensor,
               eps: float) -> tuple[Tensor, Tensor]:
        if self.lam >= 1.0:
            return super().region(model, x, y, eps)
        x_adv = pgd_point(model, x, y, eps, self.cfg)
        return sabr_region(x, x_adv, eps, self.lam)
