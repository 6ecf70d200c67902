"""Adversarial attacks: one class per attack, one verb, ``x_adv = attack(x, y)``.

>>> atk = PGD(model, 0.1, steps=50, restarts=5, loss="margin")   # doctest: +SKIP
>>> x_adv = atk(x, y)                                             # doctest: +SKIP

The set is an eps (Linf or L2 ball around ``x`` in [0, 1]), a Spec for the batch, or a
factory ``x -> Spec``; returned points are always inside it.
"""

from .apgd import APGD
from .base import Attack, frozen
from .fgsm import FGSM
from .losses import LOSSES, ce_loss, dlr_loss, margin_loss
from .pgd import PGD, SCHEDULES
from .registry import ATTACKS, AttackInfo, attack_names, make_attack
from .space import SearchSpace, param_form
from .trades import TRADESAttack

__all__ = [
    "APGD",
    "ATTACKS",
    "FGSM",
    "LOSSES",
    "PGD",
    "SCHEDULES",
    "Attack",
    "AttackInfo",
    "SearchSpace",
    "TRADESAttack",
    "attack_names",
    "ce_loss",
    "dlr_loss",
    "frozen",
    "make_attack",
    "margin_loss",
    "param_form",
]
