"""Certification ROC metrics (Franco et al., Table 1), AUROC and FPR95 against hand cases
and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from certkit.analysis.roc import (
    auroc,
    certification_roc,
    curve_auc,
    detection_metrics,
    fpr_at_tpr,
    roc_from_verdicts,
)
from certkit.errors import CertkitError


def test_table1_metrics_on_a_hand_case() -> None:
    # 3 correct (radii .3, .1, -1 = never robust) and 2 incorrect (radii .2, 0)
    radius = [0.3, 0.1, -1.0, 0.2, 0.0]
    correct = [True, True, True, False, False]
    roc = certification_roc(radius, correct, [0.0, 0.1, 0.2, 0.3])
    assert roc.n == 5 and roc.correct == 3 and roc.incorrect == 2
    assert roc.cc.tolist() == [2, 2, 1, 1]
    assert roc.ci.tolist() == [2, 1, 1, 0]
    np.testing.assert_allclose(roc.ccr, [2 / 5, 2 / 5, 1 / 5, 1 / 5])
    np.testing.assert_allclose(roc.cir, [2 / 5, 1 / 5, 1 / 5, 0])
    np.testing.assert_allclose(roc.tpr, [2 / 3, 2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(roc.fpr, [1, 1 / 2, 1 / 2, 0])
    # ROC points (0,0) (0,1/3) (1/2,1/3) (1/2,2/3) (1,2/3) (1,1): trapezoids by hand
    assert roc.auc() == pytest.approx(0.5 * 1 / 3 + 0.5 * 2 / 3)
    assert roc.eps_for_cir(0.2) == pytest.approx(0.1)
    assert roc.eps_for_cir(0.0) == pytest.approx(0.3)
    assert certification_roc([0.1], [False], [0.0, 0.2]).eps_for_cir(-1) is None
    s = roc.summary(0.2)
    assert s["ccr_at_target_cir"] == pytest.approx(0.4) and s["accuracy"] == pytest.approx(0.6)


def test_auc_equals_sklearn_when_the_grid_holds_every_radius() -> None:
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 0.2, 41)
    for _ in range(5):
        correct = rng.random(300) < 0.8
        # correct samples tend to have larger radii; ties are frequent on the grid
        idx = np.where(correct, rng.integers(0, 41, 300), rng.integers(0, 20, 300))
        radius = grid[idx]
        roc = certification_roc(radius, correct, grid)
        assert roc.auc() == pytest.approx(roc_auc_score(correct, radius), abs=1e-12)


def test_roc_from_verdicts_matches_radii() -> None:
    rng = np.random.default_rng(1)
    grid = np.linspace(0, 1, 11)
    radius = grid[rng.integers(-1, 11, 50).clip(0)] * (rng.random(50) > 0.1) - (
        rng.random(50) < 0.1)
    correct = rng.random(50) < 0.7
    verdicts = radius[:, None] >= grid[None, :]
    a, b = certification_roc(radius, correct, grid), roc_from_verdicts(verdicts, correct, grid)
    assert a.cc.tolist() == b.cc.tolist() and a.ci.tolist() == b.ci.tolist()


def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        pos, neg = rng.integers(0, 8, 70).astype(float), rng.integers(0, 6, 90).astype(float)
        want = roc_auc_score(np.r_[np.ones(70), np.zeros(90)], np.r_[pos, neg])
        assert auroc(pos, neg) == pytest.approx(want, abs=1e-12)


def test_fpr_at_tpr_hand_case_and_sklearn() -> None:
    pos = np.arange(1, 21, dtype=float)  # 20 positives: 95% = 19 of them, threshold 2
    neg = np.array([0.0, 1.5, 2.0, 3.0])
    assert fpr_at_tpr(pos, neg, 0.95) == pytest.approx(2 / 4)
    rng = np.random.default_rng(3)
    for _ in range(5):
        p, n = rng.normal(1, 1, 200), rng.normal(0, 1, 300)
        fpr, tpr, _ = roc_curve(np.r_[np.ones(200), np.zeros(300)], np.r_[p, n],
                                drop_intermediate=False)
        assert fpr_at_tpr(p, n) == pytest.approx(fpr[np.searchsorted(tpr, 0.95)])


def test_detection_metrics_orientation() -> None:
    ident, ood = np.zeros(10), np.ones(10)  # OOD scores higher: a perfect detector
    assert detection_metrics(ident, ood) == {"auroc": 1.0, "fpr95": 0.0}
    assert detection_metrics(ood, ident) == {"auroc": 0.0, "fpr95": 1.0}


def test_curve_auc_and_bad_input() -> None:
    assert curve_auc([0.5], [0.5]) == pytest.approx(0.5)
    with pytest.raises(CertkitError):
        certification_roc([0.1, 0.2], [True], [0.0, 0.1])
    with pytest.raises(CertkitError):
        certification_roc([0.1], [True], [0.1, 0.0])
    with pytest.raises(CertkitError):
        auroc([], [1.0])
    with pytest.raises(CertkitError):
        auroc([np.nan], [1.0])
