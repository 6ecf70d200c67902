"""``crown`` is exactly CROWN: equal to a plain dense implementation written from the paper.

The reference (Zhang et al. 2018, section 3) works on explicit matrices: the network is
split at its ReLUs into affine maps ``z_{k+1} = W_k relu(z_k) + b_k`` (convolutions and
flattening made dense by probing with unit vectors), every pre-activation neuron gets its
bounds by back-substitution to the input box through the relaxations of the earlier
layers (upper chord, adaptive lower slope ``[u > -l]``), never intersected with anything.
``crown-tight`` must be sound and never looser than ``crown`` on any row.
"""

from __future__ import annotations

import pytest
import torch
from bound_helpers import DT, assert_contains, sample_points
from torch import Tensor, nn

from certkit.bounds import compute_bounds, propagate
from certkit.specs import Box

Affine = tuple[Tensor, Tensor]


def dense_affine_maps(net: nn.Sequential, shape: tuple[int, ...]) -> list[Affine]:
    """``(W, b)`` of every ReLU-free stretch of ``net`` (flat in and out), by probing."""
    blocks: list[list[nn.Module]] = [[]]
    for m in net:
        if isinstance(m, nn.ReLU):
            blocks.append([])
        else:
            blocks[-1].append(m)
    maps, in_shape = [], shape
    for block in blocks:
        f = nn.Sequential(*block)
        n = int(torch.tensor(in_shape).prod())
        with torch.no_grad():
            probes = torch.cat([torch.zeros(1, n, dtype=DT), torch.eye(n, dtype=DT)])
            out = f(probes.view(n + 1, *in_shape))
        bias, cols = out[0].flatten(), out[1:].flatten(1)
        maps.append(((cols - bias).T.contiguous(), bias))
        in_shape = tuple(out.shape[1:])
    return maps


def _relax(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Lower slope, upper slope and upper intercept of relu on [lo, hi]."""
    unstable = (lo < 0) & (hi > 0)
    active = (lo >= 0).to(DT)
    up = torch.where(unstable, hi / torch.where(unstable, hi - lo, 1.0), active)
    icpt = torch.where(unstable, -up * lo, 0.0)
    low = torch.where(unstable, (hi > -lo).to(DT), active)
    return low, up, icpt


def backsubstitute(maps: list[Affine], relax: list[tuple[Tensor, Tensor, Tensor]],
                   rows: Tensor, x_lo: Tensor, x_hi: Tensor) -> Tensor:
    """Lower bounds of ``rows @ z_m`` (``m = len(relax)``; one sample, rows (R, n_m))."""
    lam, const = rows, torch.zeros(rows.shape[0], dtype=DT)
    for k in range(len(relax), 0, -1):
        w, b = maps[k]
        const = const + lam @ b
        lam = lam @ w  # now over relu(z_k)
        low, up, icpt = relax[k - 1]
        pos, neg = lam.clamp(min=0), lam.clamp(max=0)
        const = const + neg @ icpt
        lam = pos * low + neg * up  # now over z_k
    w, b = maps[0]
    const = const + lam @ b
    lam = lam @ w
    return const + lam.clamp(min=0) @ x_lo + lam.clamp(max=0) @ x_hi


def reference_crown(maps: list[Affine], x_lo: Tensor, x_hi: Tensor, C: Tensor,
                    splits: list[Tensor] | None = None
                    ) -> tuple[list[tuple[Tensor, Tensor]], Tensor, Tensor]:
    """CROWN for one sample: pre-activation bounds of every layer, and bounds of ``C z``.

    ``splits`` (one flat +1 / -1 / 0 vector per layer): the bounds of a neuron split to
    ``z >= 0`` (``z <= 0``) are clamped to that side once computed, as branch and bound's
    subdomains are bounded (the constraint itself is not used otherwise)."""
    relax: list[tuple[Tensor, Tensor, Tensor]] = []
    pre = []
    for k in range(len(maps) - 1):
        n = maps[k][0].shape[0]
        eye = torch.eye(n, dtype=DT)
        lo = backsubstitute(maps, relax, eye, x_lo, x_hi)
        hi = -backsubstitute(maps, relax, -eye, x_lo, x_hi)
        if splits is not None:
            lo = torch.where(splits[k] > 0, lo.clamp(min=0), lo)
            hi = torch.where(splits[k] < 0, hi.clamp(max=0), hi)
        pre.append((lo, hi))
        relax.append(_relax(lo, hi))
    lower = backsubstitute(maps, relax, C, x_lo, x_hi)
    upper = -backsubstitute(maps, relax, -C, x_lo, x_hi)
    return pre, lower, upper


def random_mlp(seed: int, widths: tuple[int, ...], bias: float) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    net = nn.Sequential(*layers[:-1]).to(DT)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.bias.mul_(bias)
    return net.eval()


def random_conv(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(5, 3, 2, stride=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(27, 8), nn.ReLU(), nn.Linear(8, 4))
    return net.to(DT).eval()


CASES = [("mlp", s, e) for s in (0, 1, 2) for e in (0.05, 0.3, 1.0)] + \
        [("mlp-wide-bias", s, e) for s in (3, 4) for e in (0.2, 2.0)] + \
        [("conv", s, e) for s in (0, 1, 2) for e in (0.02, 0.1, 0.5)]


def _case(kind: str, seed: int) -> tuple[nn.Sequential, tuple[int, ...]]:
    if kind == "mlp":
        return random_mlp(seed, (9, 12, 10, 8, 4), 1.0), (1, 3, 3)
    if kind == "mlp-wide-bias":  # large biases and a box of width up to 4: mostly unstable
        return random_mlp(seed, (6, 16, 16, 16, 5), 3.0), (6,)
    return random_conv(seed), (2, 7, 7)


@pytest.mark.parametrize(("kind", "seed", "eps"), CASES)
def test_crown_equals_the_dense_reference(kind: str, seed: int, eps: float) -> None:
    net, shape = _case(kind, seed)
    maps = dense_affine_maps(net, shape)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, *shape, generator=g, dtype=DT)
    lo, hi = x - eps, x + eps
    k = maps[-1][0].shape[0]
    C = torch.randn(3, 5, k, generator=g, dtype=DT)
    res = propagate(net, Box(lo, hi), method="crown", C=C)
    layers = res.pre_activation_bounds()
    assert len(layers) == len(maps) - 1
    unstable = 0
    for b in range(3):
        pre, ref_lo, ref_hi = reference_crown(maps, lo[b].flatten(), hi[b].flatten(), C[b])
        torch.testing.assert_close(res.lower[b], ref_lo, rtol=0, atol=1e-9)
        torch.testing.assert_close(res.upper[b], ref_hi, rtol=0, atol=1e-9)
        for (_, pl, pu), (rl, ru) in zip(layers, pre, strict=True):
            torch.testing.assert_close(pl[b].flatten(), rl, rtol=0, atol=1e-9)
            torch.testing.assert_close(pu[b].flatten(), ru, rtol=0, atol=1e-9)
            unstable += int(((rl < 0) & (ru > 0)).sum())
    assert unstable > 0  # every case exercises the relaxation


def test_unstable_heavy_cases_are_mostly_unstable() -> None:
    net, shape = _case("mlp-wide-bias", 3)
    maps = dense_affine_maps(net, shape)
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0), dtype=DT)
    pre, _, _ = reference_crown(maps, (x - 2.0)[0], (x + 2.0)[0], torch.eye(5, dtype=DT))
    rates = [float(((lo < 0) & (hi > 0)).to(DT).mean()) for lo, hi in pre]
    assert min(rates) > 0.3, rates


def test_the_reference_is_sound_and_probing_is_exact() -> None:
    net, shape = _case("conv", 5)
    maps = dense_affine_maps(net, shape)
    x = torch.rand(4, *shape, generator=torch.Generator().manual_seed(1), dtype=DT)
    h = x.flatten(1)
    for k, (w, b) in enumerate(maps):
        h = h @ w.T + b
        h = h.clamp(min=0) if k < len(maps) - 1 else h
    torch.testing.assert_close(h, net(x).detach(), rtol=0, atol=1e-12)
    lo, hi = x[:1] - 0.2, x[:1] + 0.2
    _, rl, ru = reference_crown(maps, lo[0].flatten(), hi[0].flatten(), torch.eye(4, dtype=DT))
    pts = lo + torch.rand(3000, *lo.shape, dtype=DT) * (hi - lo)
    assert_contains(rl.unsqueeze(0), ru.unsqueeze(0), net(pts.flatten(0, 1)).detach()
                    .unsqueeze(1), "reference CROWN")


@pytest.mark.parametrize(("kind", "seed", "eps"), CASES)
def test_crown_tight_is_never_looser_than_crown_and_sound(kind: str, seed: int,
                                                           eps: float) -> None:
    net, shape = _case(kind, seed)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.rand(3, *shape, generator=g, dtype=DT)
    lo, hi = x - eps, x + eps
    c_lo, c_hi = compute_bounds(net, lo, hi, method="crown")
    t_lo, t_hi = compute_bounds(net, lo, hi, method="crown-tight")
    assert bool((t_lo >= c_lo).all()) and bool((t_hi <= c_hi).all())
    pts = sample_points(net, lo, hi, None, n_random=300, n_corners=200, seed=seed)
    with torch.no_grad():
        vals = net(pts.flatten(0, 1)).view(pts.shape[0], 3, -1)
    assert_contains(t_lo, t_hi, vals, f"crown-tight {kind} {seed} {eps}")
