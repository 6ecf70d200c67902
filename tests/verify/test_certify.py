"""certify(): verdicts are sound, misclassified samples are never certified."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from verify_helpers import train_quickly

from certkit.data import load_dataset
from certkit.errors import CertkitError
from certkit.specs import LinfBall
from certkit.verify import certify, margin_matrix, summarize


@pytest.fixture(scope="module")
def digits_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    d = load_dataset("digits")
    model = train_quickly("mlp-3x32", d.train.x, d.train.y, d.info.mean, d.info.std,
                          epochs=12)
    return model, d.test.x[:120], d.test.y[:120]


def _no_sampled_point_flips(model: nn.Module, x: torch.Tensor, eps: float,
                            results: list, n: int = 300) -> None:  # noqa: ANN001
    certified = torch.tensor([r.robust for r in results])
    if not bool(certified.any()):
        return
    xs = x[certified]
    pred = torch.tensor([r.predicted for r in results])[certified]
    spec = LinfBall(xs, eps)
    g = torch.Generator().manual_seed(0)
    pts = torch.cat([spec.sample(n, g), spec.corners(n, g)])
    with torch.no_grad():
        out = model(pts.flatten(0, 1)).argmax(1).view(2 * n, -1)
    assert bool((out == pred).all()), "a certified sample changed its prediction"


@pytest.mark.parametrize("method", ["ibp", "crown", "crown-ibp", "alpha-crown"])
def test_certified_accuracy_is_at_most_clean_and_verdicts_hold(digits_model, method: str) -> None:  # noqa: ANN001
    model, x, y = digits_model
    eps = 0.02
    results = certify(model, x, y, LinfBall(x, eps), method)
    s = summarize(results)
    assert 0 < s["certified_accuracy"] <= s["clean_accuracy"]
    assert all(r.correct for r in results if r.certified)
    assert all((r.margin_lower > 0) == r.robust for r in results)
    _no_sampled_point_flips(model, x, eps, results)


def test_tighter_methods_certify_at_least_as_often(digits_model) -> None:  # noqa: ANN001
    model, x, y = digits_model
    spec = LinfBall(x, 0.03)
    ibp = certify(model, x, y, spec, "ibp")
    crown = certify(model, x, y, spec, "crown")
    alpha = certify(model, x, y, spec, "alpha-crown")
    assert sum(r.certified for r in crown) >= sum(r.certified for r in ibp)
    assert all(a.margin_lower >= c.margin_lower - 1e-9 for a, c in zip(alpha, crown, strict=True))


def test_misclassified_samples_are_never_certified(digits_model) -> None:  # noqa: ANN001
    model, x, y = digits_model
    wrong = (y + 1) % 10  # every label wrong
    results = certify(model, x, wrong, LinfBall(x, 0.01), "crown")
    assert not any(r.certified for r in results)
    assert any(r.robust for r in results)  # their predictions are still certified constant
    assert summarize(results)["certified_incorrect_rate"] > 0


def test_verdicts_are_computed_in_float64(digits_model, monkeypatch) -> None:  # noqa: ANN001
    mod = sys.modules["certkit.verify.certify"]

    model, x, y = digits_model
    seen = []
    real = mod.propagate

    def spy(m, spec, **kw):  # noqa: ANN001, ANN003, ANN202
        seen.append((next(m.parameters()).dtype, spec.lift().lower.dtype, kw["C"].dtype))
        return real(m, spec, **kw)

    monkeypatch.setattr(mod, "propagate", spy)
    certify(model, x[:5], y[:5], LinfBall(x[:5], 0.01), "crown")
    assert seen == [(torch.float64, torch.float64, torch.float64)]
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched


def test_margin_matrix_rows() -> None:
    C = margin_matrix(torch.tensor([2, 0]), 3, torch.float64)
    # rows e_pred - e_j: for pred 2 (j = 0, 1) and pred 0 (j = 1, 2)
    assert C.tolist() == [[[-1.0, 0.0, 1.0], [0.0, -1.0, 1.0]],
                          [[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]]


def test_bad_certify_inputs(digits_model) -> None:  # noqa: ANN001
    model, x, y = digits_model
    with pytest.raises(CertkitError, match="covers 3 samples"):
        certify(model, x[:5], y[:5], LinfBall(x[:3], 0.1))
    with pytest.raises(CertkitError, match="y must have shape"):
        certify(model, x[:5], y[:4], LinfBall(x[:5], 0.1))
    with pytest.raises(CertkitError, match="unknown bound method"):
        certify(model, x[:5], y[:5], LinfBall(x[:5], 0.1), "magic")


@pytest.mark.realdata
def test_certify_a_trained_mnist_network(shared_data: Path) -> None:
    d = load_dataset("mnist", data_dir=shared_data, train_size=2000)
    model = train_quickly("mlp-3x50", d.train.x, d.train.y, d.info.mean, d.info.std, epochs=3)
    x, y = d.test.x[:100], d.test.y[:100]
    eps = 0.01
    for method in ("ibp", "crown"):
        results = certify(model, x, y, LinfBall(x, eps), method)
        s = summarize(results)
        assert s["clean_accuracy"] > 0.7
        assert 0 < s["certified_accuracy"] <= s["clean_accuracy"]
        _no_sampled_point_flips(model, x, eps, results, n=200)
