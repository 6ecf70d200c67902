"""Distribution shifts of a test set (Franco et al., Table 3), with random sizes per sample.

=========== ======================================================================
blur        Gaussian blur, 3x3 kernel, sigma uniform in [1, 2]
rotation    rotation about the image centre, angle uniform in [-30, 30] degrees
scaling     zoom out about the centre by a factor uniform in [0.1, 1] (zero padding)
=========== ======================================================================

Sizes are drawn from a generator seeded by ``seed``, so a shifted set is reproducible.
Images are (B, C, H, W) in [0, 1]; outputs stay in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import choice_error

SHIFT_RANGES: dict[str, tuple[float, float]] = {
    "blur": (1.0, 2.0), "rotation": (-30.0, 30.0), "scaling": (0.1, 1.0)}


def gaussian_kernel3(sigma: Tensor) -> Tensor:
    """Normalised 3x3 Gaussian kernels, one per sigma: shape (B, 3, 3)."""
    d = torch.tensor([-1.0, 0.0, 1.0], dtype=sigma.dtype)
    g = torch.exp(-(d[None, :] ** 2) / (2 * sigma[:, None] ** 2))  # (B, 3)
    k = g[:, :, None] * g[:, None, :]
    return k / k.sum(dim=(1, 2), keepdim=True)


def blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Per-sample 3x3 Gaussian blur (replicate padding keeps borders unbiased)."""
    b, c, h, w = x.shape
    k = gaussian_kernel3(sigma.to(x.dtype)).to(x.device)  # (B, 3, 3)
    weight = k.repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, 3, 3)
    pad = F.pad(x.reshape(1, b * c, h, w), (1, 1, 1, 1), mode="replicate")
    return F.conv2d(pad, weight, groups=b * c).reshape(b, c, h, w).clamp(0, 1)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).clamp(0, 1)


def rotate(x: Tensor, degrees: Tensor) -> Tensor:
    """Rotate each image by its angle (degrees, counter-clockwise) about the centre."""
    a = degrees.to(torch.float64) * math.pi / 180.0
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1),
                         torch.stack([sin, cos, zero], 1)], 1)  # output -> input coords
    return _affine(x, theta.to(x.device))


def scale(x: Tensor, factor: Tensor) -> Tensor:
    """Shrink each image by its factor in (0, 1] about the centre, padding with zeros."""
    f = factor.to(torch.float64)
    zero = torch.zeros_like(f)
    inv = 1.0 / f
    theta = torch.stack([torch.stack([inv, zero, zero], 1),
                         torch.stack([zero, inv, zero], 1)], 1)
    return _affine(x, theta.to(x.device))


_APPLY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "blur": blur, "rotation": rotate, "scaling": scale}


def shift_names() -> list[str]:
    """Names accepted by :func:`apply_shift`."""
    return list(SHIFT_RANGES)


def apply_shift(x: Tensor, name: str, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The shifted images and the per-sample sizes drawn for them (seeded)."""
    if name not in SHIFT_RANGES:
        raise choice_error("distribution shift", name, shift_names())
    lo, hi = SHIFT_RANGES[name]
    g = torch.Generator().manual_seed(seed)
    sizes = lo + (hi - lo) * torch.rand(x.shape[0], generator=g, dtype=torch.float64)
    return _APPLY[name](x, sizes), sizes
