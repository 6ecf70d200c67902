"""Per-sample attack objectives on logits: higher means closer to (or deeper into) an error.

Every loss maps ``(logits (N, K), y (N,), target (N,) | None)`` to ``(N,)``. When ``target``
is given the loss is the targeted variant (push class ``target`` above class ``y``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import CertkitError, choice_error

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _true_logit(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return z.gather(1, y[:, None]).squeeze(1)


def best_other_logit(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max_{j != y} z_j`` per row."""
    masked = z.scatter(1, y[:, None], float("-inf"))
    return masked.amax(dim=1)


def margin_loss(z: torch.Tensor, y: torch.Tensor,
                target: torch.Tensor | None = None) -> torch.Tensor:
    """Carlini–Wagner logit margin ``max_{j != y} z_j - z_y`` (``z_t - z_y`` if targeted).

    Positive exactly when the point is misclassified (towards ``target``).
    """
    other = best_other_logit(z, y) if target is None else _true_logit(z, target)
    return other - _true_logit(z, y)


def ce_loss(z: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the true class (untargeted) or minus that of the target (targeted)."""
    if target is None:
        return F.cross_entropy(z, y, reduction="none")
    return -F.cross_entropy(z, target, reduction="none")


def dlr_loss(z: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference of logits ratio of Croce & Hein (2020); shift- and scale-invariant.

    Untargeted: ``(max_{j != y} z_j - z_y) / (z_(1) - z_(3))`` with ``z_(i)`` the sorted logits.
    Targeted: ``(z_t - z_y) / (z_(1) - (z_(3) + z_(4)) / 2)`` (needs four classes).
    """
    need = 3 if target is None else 4
    if z.shape[1] < need:
        raise CertkitError(f"the dlr loss needs at least {need} classes, got {z.shape[1]}")
    top = z.topk(need, dim=1).values
    if target is None:
        return margin_loss(z, y) / (top[:, 0] - top[:, 2] + 1e-12)
    return margin_loss(z, y, target) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES: dict[str, LossFn] = {"ce": ce_loss, "margin": margin_loss, "dlr": dlr_loss}
MIN_CLASSES = {"ce": 2, "margin": 2, "dlr": 3}


def get_loss(name: str) -> LossFn:
    """Look up a loss by name (``ce``, ``margin``, ``dlr``)."""
    if name not in LOSSES:
        raise choice_error("attack loss", name, list(LOSSES))
    return LOSSES[name]


def check_classes(name: str, num_classes: int, targeted: bool = False) -> None:
    """Raise when a loss cannot work with ``num_classes`` classes."""
    need = MIN_CLASSES[name] + (1 if targeted and name == "dlr" else 0)
    if num_classes < need:
        raise CertkitError(f"the {name!r} loss needs at least {need} classes, "
                           f"the model has {num_classes}")


def kl_to_clean(z_adv: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(p_clean || softmax(z_adv))``: the TRADES inner objective."""
    log_q = F.log_softmax(z_adv, dim=1)
    return F.kl_div(log_q, p_clean, reduction="none").sum(dim=1)
