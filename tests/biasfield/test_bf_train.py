"""RSIP-IBP / RSIP-SSIP training losses (eq. 6-7) and a short training run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from certkit.errors import CertkitError
from certkit.specs import BiasField
from certkit.train import train
from certkit.train.config import TrainConfig
from certkit.train.methods import METHODS, StepContext, get_method
from certkit.train.methods.rsip import hinge_robust_loss


def small_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 4)).double()


def ctx(cfg: TrainConfig, eps: float) -> StepContext:
    return StepContext(eps=eps, epoch=0, frac=0.0, config=cfg)


def test_hinge_loss_by_hand() -> None:
    m = torch.tensor([[0.0, -1.0, 2.0, -0.5], [3.0, 0.0, 1.0, 0.1]])
    torch.testing.assert_close(hinge_robust_loss(m), torch.tensor([1.5, 0.0]))


@pytest.mark.parametrize("name", ["rsip-ibp", "rsip-ssip"])
def test_loss_is_ce_plus_alpha_times_mean_hinge_over_correct_samples(name: str) -> None:
    cfg = TrainConfig(method=name, eps=0.2, rsip_alpha=2.0, bias_order=2)
    method = get_method(cfg)
    model = small_net(0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = pred.clone()
    y[:5] = (pred[:5] + 1) % 4  # five misclassified samples
    out = method.loss(model, x, y, ctx(cfg, 0.2))
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    terms = method.robust_terms(model, x[5:], y[5:], 0.2, 4)  # type: ignore[attr-defined]
    torch.testing.assert_close(out.loss, ce + 2.0 * terms.sum() / 16)
    assert out.extras["robust_frac"] == pytest.approx(11 / 16)
    # radius 0 (pre-training): plain cross-entropy
    torch.testing.assert_close(method.loss(model, x, y, ctx(cfg, 0.0)).loss, ce)


@pytest.mark.parametrize("name", ["rsip-ibp", "rsip-ssip"])
def test_robust_term_bounds_the_worst_sampled_hinge_and_has_gradients(name: str) -> None:
    cfg = TrainConfig(method=name, eps=0.3, bias_order=3)
    method = get_method(cfg)
    model = small_net(1)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    terms = method.robust_terms(model, x, y, 0.3, 4)  # type: ignore[attr-defined]
    spec = BiasField(order=3, eps=0.3)(x)
    worst = torch.zeros(8, dtype=torch.float64)
    for _ in range(200):
        u = torch.rand(spec.coeff_lower.shape, generator=g, dtype=torch.float64)
        a = spec.coeff_lower + u * (spec.coeff_upper - spec.coeff_lower)
        with torch.no_grad():
            z = model(spec.point(a))
        worst = torch.maximum(worst, F.relu(z - z.gather(1, y[:, None])).sum(1))
    assert bool((terms.detach() >= worst - 1e-9).all())
    terms.sum().backward()
    for p in model.parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
    assert any(float(p.grad.abs().sum()) > 0 for p in model.parameters())  # type: ignore[union-attr]


def test_rsip_ssip_training_loss_is_no_larger_than_rsip_ibp() -> None:
    model = small_net(2)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    losses = {}
    for name in ("rsip-ibp", "rsip-ssip"):
        cfg = TrainConfig(method=name, eps=0.2)
        losses[name] = get_method(cfg).loss(model, x, y, ctx(cfg, 0.2)).loss
    assert float(losses["rsip-ssip"].detach()) <= float(losses["rsip-ibp"].detach()) + 1e-9


def test_registry_and_bad_options() -> None:
    assert {"rsip-ibp", "rsip-ssip"} <= set(METHODS)
    with pytest.raises(CertkitError, match="rsip_alpha"):
        get_method(TrainConfig(method="rsip-ssip", eps=0.1, rsip_alpha=-1.0))
    with pytest.raises(CertkitError, match="bias field"):
        get_method(TrainConfig(method="rsip-ssip", eps=0.1, bias_field="radial"))
    with pytest.raises(CertkitError, match="order"):
        get_method(TrainConfig(method="rsip-ibp", eps=0.1, bias_order=-2))
    cfg = TrainConfig(method="rsip-ssip", eps=0.1)
    with pytest.raises(CertkitError, match="images"):
        get_method(cfg).loss(small_net(0), torch.rand(4, 64, dtype=torch.float64),
                             torch.zeros(4, dtype=torch.long), ctx(cfg, 0.1))


def test_short_run_with_pretraining_and_ramp(tmp_path) -> None:
    res = train(data="digits", model="cnn1", method="rsip-ssip", eps=0.2, epochs=3,
                eps_schedule="linear", eps_start_epoch=1, eps_ramp_epochs=1, train_size=300,
                test_size=100, batch_size=50, out=str(tmp_path / "run"), progress=False,
                rsip_alpha=1.0, bias_order=1)
    rows = [r for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert res.metrics["eps"] == pytest.approx(0.2)
    assert 0.0 <= res.metrics["test_acc"] <= 1.0
    assert all(torch.isfinite(p).all() for p in res.model.parameters())
