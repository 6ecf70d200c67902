"""Eps ramps: reach the target at the configured epoch, never exceed it, smooth hand-over."""

from __future__ import annotations

import pytest
from method_helpers import config, ctx

from certkit.errors import CertkitError
from certkit.train.methods import get_method
from certkit.train.schedules import SMOOTH_MIDPOINT, eps_at, smoothed_ramp

FRACS = [i / 8 for i in range(8)]


@pytest.mark.parametrize("schedule", ["linear", "smoothed"])
@pytest.mark.parametrize(("start", "ramp"), [(0, 3), (2, 4), (1, 1)])
def test_ramp_reaches_target_at_the_configured_epoch(schedule: str, start: int,
                                                     ramp: int) -> None:
    cfg = config(eps=0.3, eps_schedule=schedule, eps_start_epoch=start, eps_ramp_epochs=ramp,
                 epochs=start + ramp + 2)
    values = [(e, f, eps_at(cfg, e, f)) for e in range(cfg.epochs) for f in FRACS]
    assert max(v for *_, v in values) == 0.3
    assert all(v == 0.0 for e, _, v in values if e < start)
    assert all(v < 0.3 for e, _, v in values if e < start + ramp)
    assert all(v == 0.3 for e, _, v in values if e >= start + ramp)
    seq = [v for *_, v in values]
    assert all(a <= b for a, b in zip(seq, seq[1:], strict=False))  # never decreases


def test_linear_ramp_by_hand() -> None:
    cfg = config(eps=0.2, eps_schedule="linear", eps_start_epoch=1, eps_ramp_epochs=4, epochs=6)
    assert eps_at(cfg, 1, 0.0) == 0.0
    assert eps_at(cfg, 2, 0.5) == pytest.approx(0.2 * 1.5 / 4)
    assert eps_at(cfg, 5, 0.0) == 0.2


def test_smoothed_ramp_is_polynomial_then_linear_and_continuous() -> None:
    m, h = SMOOTH_MIDPOINT, 1e-6
    assert smoothed_ramp(0.0) == 0.0 and smoothed_ramp(1.0) == pytest.approx(1.0)
    assert smoothed_ramp(m / 2) == pytest.approx(smoothed_ramp(m / 4) * 2**4)  # t^4 part
    left = (smoothed_ramp(m) - smoothed_ramp(m - h)) / h
    right = (smoothed_ramp(m + h) - smoothed_ramp(m)) / h
    assert left == pytest.approx(right, rel=1e-3)  # slope-continuous at the hand-over
    line = [smoothed_ramp(t) for t in (0.4, 0.6, 0.8)]
    assert line[1] - line[0] == pytest.approx(line[2] - line[1])  # linear after it
    assert smoothed_ramp(0.1) < 0.1  # slower than linear while eps is tiny


def test_ramp_must_end_within_the_run() -> None:
    with pytest.raises(CertkitError, match="after the last epoch"):
        config(eps=0.1, eps_schedule="linear", eps_start_epoch=2, eps_ramp_epochs=5, epochs=6)


def test_warmup_regulariser_weight_decays_over_the_ramp() -> None:
    cfg = config(method="ibp", eps=0.2, warmup_reg=0.5)
    method = get_method(cfg)
    assert method.regulariser_weight(ctx(cfg, 0.0)) == 0.0
    assert method.regulariser_weight(ctx(cfg, 0.05)) == pytest.approx(0.5 * 0.75)
    assert method.regulariser_weight(ctx(cfg, 0.2)) == 0.0
