"""The zoo: neuron counts the papers report, shapes, normalisation, bad names."""

from __future__ import annotations

import pytest
import torch

from certkit.errors import CertkitError
from certkit.models import Normalize, build_model, describe, model_names

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)


@pytest.mark.parametrize(
    ("name", "shape", "neurons"),
    [
        # ERAN's model table / certification-ROC paper Table 4
        ("conv-small", MNIST, 3604),
        ("conv-small", CIFAR, 4852),
        ("conv-med", MNIST, 5704),
        ("conv-med", CIFAR, 7144),
        ("conv-big", MNIST, 48064),
        ("conv-big", CIFAR, 62464),
        ("mlp-6x200", MNIST, 1000),  # "MLP6x[200], 6 FC, 1 000 neurons"
        ("mlp-6x100", MNIST, 500),
    ],
)
def test_neuron_counts_match_the_papers(name: str, shape: tuple[int, ...], neurons: int) -> None:
    model = build_model(name, shape, 10)
    assert describe(model, shape).relu_neurons == neurons


def test_hand_counted_architectures() -> None:
    # cnn7 on MNIST: 2 x (64x28x28) + 3 x (128x14x14) + 512
    assert describe(build_model("cnn7", MNIST, 10), MNIST).relu_neurons == (
        2 * 64 * 28 * 28 + 3 * 128 * 14 * 14 + 512
    )
    # dm-small on MNIST: 16x13x13 + 32x10x10 + 100
    assert describe(build_model("dm-small", MNIST, 10), MNIST).relu_neurons == (
        16 * 13 * 13 + 32 * 10 * 10 + 100
    )
    # cnn1: 32x26x26 + 64x24x24 + 128
    assert describe(build_model("cnn1", MNIST, 10), MNIST).relu_neurons == (
        32 * 26 * 26 + 64 * 24 * 24 + 128
    )


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_every_model_builds_and_runs(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, shape, 7).eval()
    assert isinstance(model[0], Normalize)
    out = model(torch.rand(2, *shape))
    assert out.shape == (2, 7)


def test_batchnorm_variants() -> None:
    count = {n: sum(isinstance(m, torch.nn.BatchNorm2d) for m in build_model(n, MNIST, 10))
             for n in ("cnn1", "cnn1-bn1", "cnn1-bn2", "cnn7", "cnn7-nobn")}
    assert count == {"cnn1": 0, "cnn1-bn1": 1, "cnn1-bn2": 2, "cnn7": 5, "cnn7-nobn": 0}
    drop = sum(isinstance(m, torch.nn.Dropout) for m in build_model("cnn1", MNIST, 10))
    assert drop == 2  # one before each fully connected layer


def test_normalize_matches_hand_computation() -> None:
    norm = Normalize([0.5, 0.25], [0.5, 2.0])
    x = torch.tensor([[[[1.0]], [[0.25]]]])
    assert torch.allclose(norm(x), torch.tensor([[[[1.0]], [[0.0]]]]))
    flat = Normalize([0.1307], [0.3081])
    assert torch.allclose(flat(torch.zeros(1, 3)), torch.full((1, 3), -0.1307 / 0.3081))


def test_mlp_sizes_parse() -> None:
    model = build_model("mlp-3x17", MNIST, 10)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [17, 17, 10]


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(CertkitError, match="conv-small"):
        build_model("conv-tiny", MNIST, 10)


def test_too_small_input_is_a_clear_error() -> None:
    with pytest.raises(CertkitError, match="too small"):
        build_model("conv-small", (1, 8, 8), 10)
