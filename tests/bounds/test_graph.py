"""Graph extraction: Sequential (nested), fx-traced models, BatchNorm modes, Dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from bound_helpers import DT, ResNetTiny, rand_box
from torch import nn

from certkit.bounds import build_graph, compute_bounds, supported_layers
from certkit.models import Clip, Normalize, build_model


def test_nested_sequentials_are_flattened_with_qualified_names() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Linear(3, 2))
    g = build_graph(net, torch.rand(1, 1, 2, 2))
    assert [n.name for n in g.nodes] == ["input", "0", "1.0", "1.1", "2"]
    assert [n.op.kind for n in g.nodes[1:]] == ["reshape", "linear", "relu", "linear"]


def test_zoo_models_lower_and_reproduce_their_outputs() -> None:
    for name in ("mlp-3x20", "conv-small", "cnn1-bn2", "dm-small"):
        model = build_model(name, (1, 28, 28), 10, [0.1], [0.3]).eval()
        x = torch.rand(2, 1, 28, 28)
        g = build_graph(model, x)  # raises if the graph disagreed with the model
        torch.testing.assert_close(g.clean_output, model(x))


def test_clip_is_lowered_to_two_relus() -> None:
    g = build_graph(nn.Sequential(Clip(0.1, 0.9)), torch.rand(1, 3))
    assert [n.op.kind for n in g.nodes[1:]] == ["affine", "relu", "affine", "relu", "affine"]
    x = torch.linspace(-1, 2, 31).view(1, -1)
    vals = [x]
    for n in g.nodes[1:]:
        vals.append(n.op.forward(vals[-1]))
    torch.testing.assert_close(vals[-1], x.clamp(0.1, 0.9))


class Functional(nn.Module):
    """Arithmetic with constants, functional relu, view with a size() call, subtraction."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 5)
        self.b = nn.Linear(4, 5)
        self.out = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), -1) * 2.0 + 1.0
        h = F.relu(self.a(x)) - torch.relu(self.b(x)) / 4.0
        return self.out(-h + 0.5)


def test_fx_traced_models_with_functional_ops() -> None:
    net = Functional().to(DT)
    lo, hi = rand_box((1, 2, 2), 3, 0.3, 0)
    g = build_graph(net, (lo + hi) / 2)
    kinds = [n.op.kind for n in g.nodes[1:]]
    assert kinds.count("add") == 1 and kinds.count("relu") == 2
    for method in ("ibp", "crown", "ssip"):
        lb, ub = compute_bounds(net, lo, hi, method=method)
        pts = lo + torch.rand(500, *lo.shape, dtype=DT) * (hi - lo)
        y = net(pts.flatten(0, 1)).view(500, 3, -1)
        assert bool((y >= lb - 1e-12).all() and (y <= ub + 1e-12).all())


def test_residual_add_appears_in_the_graph() -> None:
    g = build_graph(ResNetTiny((1, 4, 4), 3), torch.rand(2, 1, 4, 4))
    adds = [n for n in g.nodes if n.op is not None and n.op.kind == "add"]
    assert len(adds) == 1 and len(adds[0].inputs) == 2
    assert "add" in adds[0].name


def test_batchnorm_in_train_mode_uses_clean_batch_statistics() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(12, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).to(DT)
    net.train()
    x = torch.rand(6, 1, 4, 4, dtype=DT)
    before = net[1].running_mean.clone()
    lb, ub = compute_bounds(net, x - 0.02, x + 0.02, x=x, method="crown")
    assert torch.equal(net[1].running_mean, before)  # bounding does not touch running stats
    y = net(x).detach()  # train-mode forward: batch statistics of the clean x
    assert bool((y >= lb - 1e-12).all() and (y <= ub + 1e-12).all())
    net.eval()
    lb_eval, _ = compute_bounds(net, x - 0.02, x + 0.02, method="crown")
    assert not torch.allclose(lb, lb_eval)  # running statistics give another network


def test_dropout_is_bounded_as_its_eval_identity() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(6, 2)).to(DT)
    x = torch.rand(3, 1, 2, 2, dtype=DT)
    train = compute_bounds(net.train(), x - 0.1, x + 0.1)
    evaluation = compute_bounds(net.eval(), x - 0.1, x + 0.1)
    torch.testing.assert_close(train, evaluation)


def test_supported_layer_list_names_every_family() -> None:
    names = set(supported_layers())
    assert {"Linear", "Conv2d", "ReLU", "Flatten", "BatchNorm1d", "BatchNorm2d", "AvgPool2d",
            "Dropout", "Identity", "Normalize", "Clip", "AffineLayer"} <= names


def test_normalize_on_flat_inputs_broadcasts_one_channel() -> None:
    net = nn.Sequential(nn.Flatten(), Normalize([0.5], [0.25]), nn.Linear(4, 2)).to(DT)
    lo, hi = rand_box((1, 2, 2), 2, 0.2, 1)
    lb, ub = compute_bounds(net, lo, hi, method="ibp")
    assert bool((net(lo) >= lb - 1e-12).all() and (net(hi) <= ub + 1e-12).all())
