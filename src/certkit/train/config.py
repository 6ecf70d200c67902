"""Training configuration: one dataclass, loadable from YAML with command-line overrides.

This module only parses (types, known keys); :mod:`.configure` checks values and names
against the registries of models, methods and schedules, which import this module.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CertkitError


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as the run's ``config.yaml``)."""

    # data
    data: str = "digits"
    data_dir: str | None = None
    download: bool = False
    train_size: int | None = None
    test_size: int | None = None
    val_size: int = 0
    classes: int | None = None
    # model and method
    model: str = "mlp-3x100"
    method: str = "standard"
    eps: float = 0.0
    eps_schedule: str = "constant"
    eps_start_epoch: int = 0
    eps_ramp_epochs: int = 0
    # optimisation
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    grad_clip: float | None = None
    l1: float = 0.0
    # method hyper-parameters (each is read only by the methods named beside it)
    alpha: float = 0.5  # fgsm-at: weight of the clean loss, 1 - alpha on the FGSM point
    fgsm_random_start: bool = False  # fgsm-at: FGSM from a random point (Wong et al. 2020)
    beta: float = 1.0  # trades: weight of the KL term (= 1/lambda of the TRADES paper)
    kappa: float = 0.0  # ibp, crown-ibp, sabr: weight of the natural loss
    sabr_lambda: float = 0.4  # sabr: propagation-region radius tau = lambda * eps
    sigma: float = 0.25  # gaussian: std of the input noise
    ood_train: str | None = None  # oe: outlier training dataset (same input shape)
    ood_train_size: int | None = None  # oe: deterministic subset of the outlier set
    oe_weight: float = 0.5  # oe: weight of the uniform-target loss on outliers
    rsip_alpha: float = 1.0  # rsip-ibp, rsip-ssip: weight of the robust hinge loss (eq. 7)
    bias_order: int = 3  # rsip-ibp, rsip-ssip: bias-field polynomial order (eps = its radius)
    bias_field: str = "multiplicative"  # rsip-*: multiplicative, additive or both
    attack_steps: int = 10  # pgd-at, trades, sabr: steps of the inner attack
    attack_restarts: int = 1  # pgd-at, sabr: random restarts of the inner PGD
    attack_step_size: float | None = None  # inner attacks: step / eps (None: 2.5 / steps)
    ibp_init: bool | None = None  # Shi et al. 2021 init (None: on for ibp, crown-ibp, sabr)
    warmup_reg: float | None = None  # ibp, crown-ibp, sabr: Shi et al.'s warm-up regulariser
    # weight (None: 0.5 for networks with BatchNorm, as in Shi et al.; 0 without BatchNorm)
    warmup_reg_tol: float = 0.5  # tolerance tau of the warm-up regularisers
    # reproducibility and execution
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 1
    out: str = "runs/latest"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as written to ``config.yaml``."""
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    """Names of every configuration key."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check/convert ``value`` to the field's type (YAML already parsed scalars)."""
    hint = typing.get_type_hints(TrainConfig)[name] if annotation is None else annotation
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(name, value, args[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise CertkitError(f"config key {name!r} must be a list, got {value!r}")
        return [_coerce(name, v, item) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise CertkitError(f"config key {name!r} must be true or false, got {value!r}")
    if hint in (int, float):
        kind = "an integer" if hint is int else "a number"
        allowed = int | str if hint is int else int | float | str
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise CertkitError(f"config key {name!r} must be {kind}, got {value!r}")
        try:
            return hint(value)
        except ValueError:
            raise CertkitError(f"config key {name!r} must be {kind}, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise CertkitError(f"config key {name!r} must be a string, got {value!r}")
        return str(value)
    return value


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of ``cfg`` with ``overrides`` (unknown keys / wrong types: CertkitError)."""
    valid = field_names()
    clean: dict[str, Any] = {}
    for key, value in overrides.items():
        k = key.replace("-", "_")
        if k not in valid:
            raise CertkitError(f"unknown config key {key!r}; valid: {', '.join(valid)}")
        clean[k] = _coerce(k, value, None)
    return dataclasses.replace(cfg, **clean)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (validated later by :func:`apply_overrides`)."""
    p = Path(path)
    if not p.is_file():
        raise CertkitError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CertkitError(f"config file {p} is not valid YAML: {err}".splitlines()[0]) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CertkitError(f"config file {p} must hold a mapping of keys to values")
    return data
