"""Bad input is a clear CertkitError, never a bound."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from certkit.bounds import bound, compute_bounds
from certkit.errors import CertkitError
from certkit.specs import LinfBall


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


X = torch.rand(2, 1, 2, 2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_inputs(bad: float) -> None:
    lo = X.clone()
    lo[0, 0, 0, 0] = bad
    with pytest.raises(CertkitError, match="NaN or Inf"):
        compute_bounds(_net(), lo, X + 0.1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_weights(bad: float) -> None:
    net = _net()
    with torch.no_grad():
        net[3].weight[0, 0] = bad
    with pytest.raises(CertkitError, match=r"weight '3.weight' contains NaN or Inf"):
        compute_bounds(net, X, X + 0.1)


def test_lower_above_upper() -> None:
    with pytest.raises(CertkitError, match="lower bound exceeds upper bound"):
        compute_bounds(_net(), X + 0.1, X)


def test_negative_eps() -> None:
    with pytest.raises(CertkitError, match="eps must be >= 0"):
        bound(_net(), LinfBall(X, -0.1))


@pytest.mark.parametrize(("lo_shape", "hi_shape", "pattern"), [
    ((2, 1, 2, 2), (2, 1, 2, 3), "differ"),
    ((2, 1, 3, 3), (2, 1, 3, 3), "does not accept inputs of shape"),
])
def test_shape_mismatches(lo_shape: tuple[int, ...], hi_shape: tuple[int, ...],
                          pattern: str) -> None:
    with pytest.raises(CertkitError, match=pattern):
        compute_bounds(_net(), torch.zeros(lo_shape), torch.ones(hi_shape))


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 1, 2), (2, 1), (2, 0, 2)])
def test_bad_spec_matrix(shape: tuple[int, ...]) -> None:
    with pytest.raises(CertkitError, match="C must have shape"):
        compute_bounds(_net(), X, X + 0.1, C=torch.ones(shape))


def test_nan_spec_matrix() -> None:
    with pytest.raises(CertkitError, match="C contains NaN"):
        compute_bounds(_net(), X, X + 0.1, C=torch.full((2, 1, 2), float("nan")))


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(CertkitError, match="unknown bound method 'zonotope'; valid: ibp, crown"):
        compute_bounds(_net(), X, X + 0.1, method="zonotope")


def test_unsupported_layer_is_named_with_its_position() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(2, 2))
    with pytest.raises(CertkitError, match="unsupported layer MaxPool2d at position '2'"):
        compute_bounds(net, X, X + 0.1)
    nested = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()))
    with pytest.raises(CertkitError, match="unsupported layer Sigmoid at position '1.1'"):
        compute_bounds(nested, X, X + 0.1)


def test_unsupported_function_in_a_traced_model_is_named() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(x.flatten(1)))

    with pytest.raises(CertkitError, match="unsupported operation 'tanh'"):
        compute_bounds(Net(), X, X + 0.1)


def test_untraceable_model_is_a_clear_error() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return self.fc(x.flatten(1))
            return -self.fc(x.flatten(1))

    with pytest.raises(CertkitError, match="cannot trace Branchy"):
        compute_bounds(Branchy(), X, X + 0.1)


def test_bad_which() -> None:
    with pytest.raises(CertkitError, match="which must be one of"):
        compute_bounds(_net(), X, X + 0.1, which="middle")


def test_subclassed_layers_are_not_silently_treated_as_their_parent() -> None:
    class Weird(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) ** 2

    net = nn.Sequential(nn.Flatten(), Weird(4, 2))
    with pytest.raises(CertkitError, match="unsupported operation"):
        compute_bounds(net, X, X + 0.1)
