"""certkit.analysis.adversarial_accuracy: tensors or batches, clean vs robust accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from certkit.analysis import adversarial_accuracy, save_examples
from certkit.attacks import FGSM, PGD
from certkit.errors import CertkitError


def test_tensors_and_loader_agree(digits_mlp: nn.Module,
                                  digits: tuple[torch.Tensor, ...]) -> None:
    x, y = digits[2][:120], digits[3][:120]
    a = adversarial_accuracy(digits_mlp, x, y, FGSM(digits_mlp, 0.1), batch_size=50)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    b = adversarial_accuracy(digits_mlp, loader, FGSM(digits_mlp, 0.1))
    c = adversarial_accuracy(digits_mlp, [(x, y)], attack=FGSM(digits_mlp, 0.1))
    for r in (a, b, c):
        assert r["n"] == 120
        assert r["robust_accuracy"] <= r["clean_accuracy"]
    assert a["clean_accuracy"] == b["clean_accuracy"] == c["clean_accuracy"]
    assert a["robust_accuracy"] == b["robust_accuracy"] == c["robust_accuracy"]
    clean = (digits_mlp(x).argmax(1) == y).float().mean().item()
    assert a["clean_accuracy"] == pytest.approx(clean)


def test_examples_kept_and_saved(digits_mlp: nn.Module, digits: tuple[torch.Tensor, ...],
                                 tmp_path: object) -> None:
    x, y = digits[2][:40], digits[3][:40]
    r = adversarial_accuracy(digits_mlp, x, y, PGD(digits_mlp, 0.1, steps=5),
                             keep_examples=True)
    assert r["x_adv"].shape == x.shape and torch.equal(r["x"], x)
    wrong = r["pred_clean"] != y
    assert torch.equal(r["x_adv"][wrong], x[wrong])  # misclassified samples are not attacked
    robust = ((r["pred_clean"] == y) & (r["pred_adv"] == y)).float().mean().item()
    assert r["robust_accuracy"] == pytest.approx(robust)
    assert (r["x_adv"] - x).abs().max() <= 0.1 + 1e-6
    path = tmp_path / "ex.npz"  # type: ignore[operator]
    save_examples(path, r, eps=0.1)
    with np.load(path) as f:
        assert f["x_adv"].shape == (40, 1, 8, 8) and float(f["eps"]) == 0.1


def test_model_mode_restored(digits_mlp: nn.Module, digits: tuple[torch.Tensor, ...]) -> None:
    digits_mlp.train()
    try:
        adversarial_accuracy(digits_mlp, digits[2][:8], digits[3][:8], FGSM(digits_mlp, 0.1))
        assert digits_mlp.training
    finally:
        digits_mlp.eval()


def test_bad_calls(digits_mlp: nn.Module, digits: tuple[torch.Tensor, ...]) -> None:
    x, y = digits[2][:8], digits[3][:8]
    atk = FGSM(digits_mlp, 0.1)
    with pytest.raises(CertkitError, match="labels"):
        adversarial_accuracy(digits_mlp, x, None, atk)
    with pytest.raises(CertkitError, match="needs an attack"):
        adversarial_accuracy(digits_mlp, x, y)
    with pytest.raises(CertkitError, match="labels"):
        adversarial_accuracy(digits_mlp, x, y[:3], atk)
    with pytest.raises(CertkitError, match="batch_size"):
        adversarial_accuracy(digits_mlp, x, y, atk, batch_size=0)
    with pytest.raises(CertkitError, match="pair"):
        adversarial_accuracy(digits_mlp, [x], atk)
