"""Fast input gradients through convolutions equal autograd's; the model is restored after."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.attacks.base import frozen
from certkit.models.kernels import fast_input_gradients

CONVS = [
    dict(in_channels=1, out_channels=16, kernel_size=4, stride=2),
    dict(in_channels=16, out_channels=32, kernel_size=4, stride=2, padding=1),
    dict(in_channels=3, out_channels=8, kernel_size=3, stride=1, padding=2, dilation=2),
    dict(in_channels=8, out_channels=8, kernel_size=3, stride=3, padding=1, groups=4),
    dict(in_channels=6, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
         bias=False),
]


@pytest.mark.parametrize("cfg", CONVS)
@pytest.mark.parametrize("size", [13, 14])
def test_input_gradient_equals_autograd(cfg: dict, size: int) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(**cfg), nn.ReLU(), nn.Flatten())
    x = torch.rand(5, cfg["in_channels"], size, size + 1, dtype=torch.float64)
    model = model.double()
    w = torch.randn_like(model(x))

    def grad() -> torch.Tensor:
        xx = x.clone().requires_grad_(True)
        return torch.autograd.grad((model(xx) * w).sum(), xx)[0]

    for p in model.parameters():
        p.requires_grad_(False)
    ref = grad()
    with fast_input_gradients(model):
        assert "forward" in model[0].__dict__
        fast = grad()
        with torch.no_grad():  # no-grad forward: the plain module path, same values
            assert torch.equal(model(x), nn.Sequential(*model)(x))
    assert "forward" not in model[0].__dict__
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_trainable_convolutions_are_left_alone() -> None:
    conv = nn.Conv2d(1, 2, 3)
    with fast_input_gradients(conv):
        assert "forward" not in conv.__dict__  # its weights need gradients
    with frozen(conv):
        assert "forward" in conv.__dict__
    assert "forward" not in conv.__dict__ and conv.weight.requires_grad
