"""Helpers for the bound tests: small random networks of every layer type, sampling, PGD.

Everything runs in float64 so that a violation is a bug, not rounding.
"""

from __future__ import annotations

import torch
from torch import nn

from certkit.models import Clip, Normalize

DT = torch.float64
TOL = 1e-9


class Residual(nn.Module):
    """``relu(x + f(x))`` with a conv branch: an fx-traced graph with an ``add``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class ResNetTiny(nn.Module):
    """Stem conv, one residual block, flatten, linear."""

    def __init__(self, shape: tuple[int, int, int], k: int) -> None:
        super().__init__()
        c, h, w = shape
        self.stem = nn.Conv2d(c, 3, 3, padding=1)
        self.block = Residual(3)
        self.head = nn.Linear(3 * h * w, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(torch.relu(self.stem(x)))
        return self.head(x.flatten(1))


def _randomise_bn(model: nn.Module, g: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g, dtype=DT) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g, dtype=DT) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=g, dtype=DT))
            m.bias.data.copy_(torch.randn(n, generator=g, dtype=DT) * 0.2)


FAMILIES = ("mlp", "conv", "pool", "clip", "residual", "bn")
SHAPES = {"mlp": (1, 3, 3), "conv": (2, 6, 6), "pool": (1, 6, 6), "clip": (1, 4, 4),
          "residual": (1, 4, 4), "bn": (2, 5, 5)}


def make_net(family: str, seed: int, k: int = 3) -> tuple[nn.Module, tuple[int, ...]]:
    """A random float64 network of ``family`` in eval mode, and its input shape."""
    torch.manual_seed(seed)
    shape = SHAPES[family]
    c, h, w = shape
    if family == "mlp":
        net: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(h * w, 7), nn.ReLU(),
                                       nn.Linear(7, 6), nn.ReLU(), nn.Dropout(0.2),
                                       nn.Linear(6, k))
    elif family == "conv":
        net = nn.Sequential(Normalize([0.4, 0.6], [0.3, 0.5]),
                            nn.Conv2d(c, 3, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(3, 4, 2, stride=1, padding=1, dilation=2), nn.ReLU(),
                            nn.Flatten(), nn.Linear(4 * 3 * 3, k))
    elif family == "pool":
        net = nn.Sequential(nn.Conv2d(c, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                            nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Identity(), nn.Flatten(),
                            nn.Linear(2 * 2 * 2, k))
    elif family == "clip":
        net = nn.Sequential(Clip(0.2, 0.7), nn.Flatten(), nn.Linear(h * w, 6), nn.ReLU(),
                            nn.Linear(6, k))
    elif family == "residual":
        net = ResNetTiny(shape, k)
    elif family == "bn":
        net = nn.Sequential(nn.Conv2d(c, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                            nn.Linear(3 * 3 * 3, 5), nn.BatchNorm1d(5), nn.ReLU(),
                            nn.Linear(5, k))
    else:
        raise ValueError(family)
    net = net.to(DT)
    g = torch.Generator().manual_seed(seed)
    _randomise_bn(net, g)
    return net.eval(), shape


def rand_box(shape: tuple[int, ...], batch: int, eps: float,
             seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random box of half-width up to ``eps`` around points of [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *shape, generator=g, dtype=DT)
    r = eps * torch.rand(batch, *shape, generator=g, dtype=DT)
    return x - r, x + r


def outputs(net: nn.Module, pts: torch.Tensor, C: torch.Tensor | None) -> torch.Tensor:
    """``C @ net(p)`` for points (n, B, *shape): (n, B, m)."""
    n, b = pts.shape[:2]
    with torch.no_grad():
        y = net(pts.reshape(n * b, *pts.shape[2:])).reshape(n, b, -1)
    return y if C is None else torch.einsum("bmk,nbk->nbm", C, y)


def pgd_points(net: nn.Module, lo: torch.Tensor, hi: torch.Tensor, C: torch.Tensor | None,
               steps: int = 25, restarts: int = 2, seed: int = 0) -> torch.Tensor:
    """Points of the box that maximise and minimise every output row (sign-gradient ascent).

    Returns (2 * m * restarts, B, *shape): for every row and direction, the best iterate.
    """
    g = torch.Generator().manual_seed(seed)
    b = lo.shape[0]
    with torch.no_grad():
        m = net(lo).shape[1] if C is None else C.shape[1]
    found = []
    for _ in range(restarts):
        for sign in (1.0, -1.0):
            # one copy of the box per output row, optimised jointly
            x = lo.unsqueeze(0) + torch.rand(m, *lo.shape, generator=g, dtype=DT) * (hi - lo)
            step = (hi - lo) / 4
            for _ in range(steps):
                x = x.detach().requires_grad_(True)
                flat = net(x.reshape(m * b, *lo.shape[1:])).reshape(m, b, -1)
                vals = flat if C is None else torch.einsum("bmk,nbk->nbm", C, flat)
                obj = sign * vals[torch.arange(m), :, torch.arange(m)].sum()
                (grad,) = torch.autograd.grad(obj, x)
                x = torch.maximum(torch.minimum(x + step * grad.sign(), hi), lo)
                step = step * 0.85
            found.append(x.detach())
    return torch.cat(found, 0)


def sample_points(net: nn.Module, lo: torch.Tensor, hi: torch.Tensor, C: torch.Tensor | None,
                  n_random: int = 500, n_corners: int = 400, seed: int = 0) -> torch.Tensor:
    """At least 1000 points of the box: corners, uniform points and PGD-optimised points."""
    g = torch.Generator().manual_seed(seed)
    corners = torch.where(torch.rand(n_corners, *lo.shape, generator=g, dtype=DT) < 0.5, lo, hi)
    rand = lo + torch.rand(n_random, *lo.shape, generator=g, dtype=DT) * (hi - lo)
    pgd = pgd_points(net, lo, hi, C, seed=seed)
    pts = torch.cat([corners, rand, pgd], 0)
    if pts.shape[0] < 1000:
        extra = lo + torch.rand(1000 - pts.shape[0], *lo.shape, generator=g, dtype=DT) * (hi - lo)
        pts = torch.cat([pts, extra], 0)
    return pts


def assert_contains(lb: torch.Tensor, ub: torch.Tensor, vals: torch.Tensor, what: str) -> None:
    """Every value (n, B, m) lies in [lb, ub] (B, m) up to float64 rounding."""
    scale = 1.0 + vals.abs().amax()
    low = (vals < lb.unsqueeze(0) - TOL * scale).sum().item()
    high = (vals > ub.unsqueeze(0) + TOL * scale).sum().item()
    assert low == 0 and high == 0, (
        f"{what}: {low} values below the lower bound, {high} above the upper bound "
        f"(worst gaps {float((lb - vals).amax()):.3g}, {float((vals - ub).amax()):.3g})")


def node_values(graph, x: torch.Tensor) -> dict[int, torch.Tensor]:  # noqa: ANN001
    """Every graph node's value at the points ``x`` (n, *input_shape)."""
    vals = {0: x}
    with torch.no_grad():
        for node in graph.nodes[1 : graph.output + 1]:
            vals[node.index] = node.op.forward(*(vals[j] for j in node.inputs))
    return vals
