"""Named attacks with metadata: the single source of CLI choices, docs tables and tests."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import CertkitError, choice_error
from .apgd import APGD
from .base import Attack, SpecLike
from .fgsm import FGSM
from .pgd import PGD
from .trades import TRADESAttack


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack: its class, fixed options, and where it comes from."""

    name: str
    cls: type[Attack]
    summary: str
    paper: str
    fixed: dict[str, Any] = field(default_factory=dict)


ATTACKS: dict[str, AttackInfo] = {a.name: a for a in [
    AttackInfo("fgsm", FGSM, "one signed-gradient step", "Goodfellow et al. 2015"),
    AttackInfo("pgd", PGD, "projected gradient ascent with restarts", "Madry et al. 2018"),
    AttackInfo("apgd-ce", APGD, "Auto-PGD on cross-entropy", "Croce & Hein 2020",
               {"loss": "ce"}),
    AttackInfo("apgd-dlr", APGD, "Auto-PGD on the DLR loss", "Croce & Hein 2020",
               {"loss": "dlr"}),
    AttackInfo("trades", TRADESAttack, "KL inner maximisation of TRADES", "Zhang et al. 2019"),
]}


def attack_names() -> list[str]:
    """Names accepted by :func:`make_attack` and ``certkit attack --attack``."""
    return list(ATTACKS)


def make_attack(name: str, model: nn.Module, spec: SpecLike, *, strict: bool = True,
                **options: Any) -> Attack:
    """Build attack ``name``; options it does not take raise (or are dropped if not strict)."""
    if name not in ATTACKS:
        raise choice_error("attack", name, attack_names())
    info = ATTACKS[name]
    params = inspect.signature(info.cls.__init__).parameters
    kwargs = {}
    for key, value in options.items():
        if key in info.fixed:
            continue
        if key not in params:
            if strict:
                raise CertkitError(f"attack {name!r} takes no option {key!r}")
            continue
        kwargs[key] = value
    return info.cls(model, spec, **info.fixed, **kwargs)
