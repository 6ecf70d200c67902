"""Networks as chains of dense affine maps and ReLUs: ``z_k = W_k a_{k-1} + b_k``.

Branch and bound over ReLU states and the MILP encoding need every hidden neuron by name;
both work on this form. :func:`extract_chain` reads it off an ``nn.Sequential`` whose layers
between ReLUs are affine (Linear, Conv2d, AvgPool2d, BatchNorm in eval mode, Flatten,
Unflatten, constant scale/shift, Identity, Dropout in eval mode): each segment is probed
with the unit vectors in float64, so ``W_k`` and ``b_k`` are the segment's exact matrix and
offset (up to float64 rounding), and the result is checked against the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...io.onnx_modules import ConstAffine
from ...models.layers import Normalize

_AFFINE = (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten,
           nn.Unflatten, nn.Identity, nn.Dropout, ConstAffine, Normalize)
MAX_PROBE = 1 << 26  # most matrix entries one segment may have


@dataclass
class Chain:
    """Dense layers (float64); a ReLU follows every layer but the last."""

    weights: list[Tensor]  # W_k: (n_k, n_{k-1})
    biases: list[Tensor]  # b_k: (n_k,)

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def hidden(self) -> list[int]:
        """Sizes of the hidden (ReLU) layers."""
        return [w.shape[0] for w in self.weights[:-1]]

    def forward(self, x: Tensor) -> Tensor:
        """Outputs (B, n_out) for flat inputs (B, n_in)."""
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w.T + b
            if k < len(self.weights) - 1:
                x = torch.relu(x)
        return x

    def pre_activations(self, x: Tensor) -> list[Tensor]:
        """Every hidden layer's pre-activation values at ``x`` (B, n_in)."""
        out = []
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            z = x @ w.T + b
            out.append(z)
            x = torch.relu(z)
        return out


def _flatten(module: nn.Module) -> list[nn.Module] | None:
    if type(module) is nn.Sequential:
        out: list[nn.Module] = []
        for m in module:
            sub = _flatten(m)
            if sub is None:
                return None
            out += sub
        return out
    if isinstance(module, nn.ReLU) or type(module) in _AFFINE:
        return [module]
    return None


def _probe(layers: list[nn.Module], shape: tuple[int, ...]) -> tuple[Tensor, Tensor, tuple]:
    """Matrix, offset and output shape of the affine ``layers`` on inputs of ``shape``."""
    n = 1
    for s in shape:
        n *= s
    x = torch.cat([torch.zeros(1, n, dtype=torch.float64),
                   torch.eye(n, dtype=torch.float64)]).view(n + 1, *shape)
    with torch.no_grad():
        for m in layers:
            x = m(x)
    out_shape = tuple(x.shape[1:])
    flat = x.reshape(n + 1, -1)
    return (flat[1:] - flat[0]).T.contiguous(), flat[0].clone(), out_shape


def extract_chain(module: nn.Module, n_inputs: int, in_shape: tuple[int, ...] | None = None,
                  check: bool = True) -> Chain | None:
    """The chain form of ``module`` (float64 copy), or None when it is not such a chain.

    ``module`` maps inputs of shape ``in_shape`` (default flat ``(n_inputs,)``) to its output;
    the chain works on flattened inputs and outputs.
    """
    layers = _flatten(module)
    if layers is None or any(m.training for m in layers if isinstance(m, nn.Dropout |
                                                                    nn.BatchNorm1d |
                                                                    nn.BatchNorm2d)):
        return None
    layers = [m.double() if any(True for _ in m.parameters()) or any(
        True for _ in m.buffers()) else m for m in _copy(layers)]
    segments: list[list[nn.Module]] = [[]]
    for m in layers:
        if isinstance(m, nn.ReLU):
            segments.append([])
        else:
            segments[-1].append(m)
    shape = in_shape or (n_inputs,)
    weights, biases = [], []
    for seg in segments:
        numel = 1
        for s in shape:
            numel *= s
        if numel * numel > MAX_PROBE * 4:
            return None
        w, b, shape = _probe(seg, shape)
        if w.numel() > MAX_PROBE:
            return None
        weights.append(w)
        biases.append(b)
    chain = Chain(weights, biases)
    if check and not _agrees(chain, module, n_inputs, in_shape):
        return None
    return chain


def _copy(layers: list[nn.Module]) -> list[nn.Module]:
    import copy

    return [copy.deepcopy(m) for m in layers]


def _agrees(chain: Chain, module: nn.Module, n_inputs: int,
            in_shape: tuple[int, ...] | None) -> bool:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, n_inputs, generator=gen, dtype=torch.float64)
    ref_mod = _copy([module])[0].double()
    with torch.no_grad():
        ref = ref_mod(x.view(8, *(in_shape or (n_inputs,)))).reshape(8, -1)
        got = chain.forward(x)
    scale = 1.0 + float(ref.abs().max())
    return ref.shape == got.shape and bool(((ref - got).abs() <= 1e-9 * scale).all())
