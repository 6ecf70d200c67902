"""Networks as chains of dense affine maps and ReLUs: ``z_k = W_k a_{k-1} + b_k``.

Branch and bound over ReLU states and the MILP encoding need every hidden neuron by name;
both work on this form. :func:`extract_chain` reads it off an ``nn.Sequential`` whose layers
between ReLUs are affine (Linear, Conv2d, AvgPool2d, BatchNorm in eval mode, Flatten,
Unflatten, constant scale/shift, Identity, Dropout in eval mode): a segment that is one
Conv2d between reshapes keeps its kernel (:class:`~.conv_map.ConvMap`); any other is
probed with the unit vectors in float64, so ``W_k`` and ``b_k`` are the segment's exact
matrix and offset (up to float64 rounding). The result is checked against the module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...io.onnx_modules import ConstAffine
from ...models.layers import Normalize
from .conv_map import ConvMap

_SHAPE_ONLY = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout)
_AFFINE = (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten,
           nn.Unflatten, nn.Identity, nn.Dropout, ConstAffine, Normalize)
MAX_PROBE = 1 << 26  # most matrix entries one segment may have


class Chain:
    """Affine layers (float64); a ReLU follows every layer but the last.

    A layer's linear part is its dense matrix ``W_k`` (n_k, n_{k-1}) or, for a convolution,
    a :class:`~.conv_map.ConvMap` whose dense matrix is built only when asked for
    (:attr:`weights`: the MILP needs it, the bound engine works on :meth:`module`).
    """

    def __init__(self, weights: list[Tensor | ConvMap], biases: list[Tensor]) -> None:
        self.maps = list(weights)
        self.biases = biases
        self._dense: list[Tensor | None] = [None if isinstance(w, ConvMap) else w
                                            for w in self.maps]

    @property
    def weights(self) -> list[Tensor]:
        """Every layer's dense matrix ``W_k`` (n_k, n_{k-1})."""
        for k, m in enumerate(self.maps):
            if self._dense[k] is None:
                assert isinstance(m, ConvMap)
                self._dense[k] = m.dense()
        return self._dense  # type: ignore[return-value]

    @property
    def n_inputs(self) -> int:
        m = self.maps[0]
        return m.n_in if isinstance(m, ConvMap) else m.shape[1]

    @property
    def hidden(self) -> list[int]:
        """Sizes of the hidden (ReLU) layers."""
        return [int(b.shape[0]) for b in self.biases[:-1]]

    def lin(self, k: int, x: Tensor) -> Tensor:
        """``x W_k^T`` for rows ``x`` (..., n_{k-1}) (no bias)."""
        m = self.maps[k]
        return m.apply(x) if isinstance(m, ConvMap) else x @ m.T

    def forward(self, x: Tensor) -> Tensor:
        """Outputs (B, n_out) for flat inputs (B, n_in)."""
        last = len(self.maps) - 1
        for k, b in enumerate(self.biases):
            x = self.lin(k, x) + b
            if k < last:
                x = torch.relu(x)
        return x

    def module(self) -> nn.Module:
        """The chain as a float64 ``nn.Sequential`` on flat inputs (for the bound engine):
        ``Linear`` layers, and for a kept convolution ``Unflatten``, ``Conv2d``, ``Flatten``
        and the offset as a constant shift."""
        layers: list[nn.Module] = []
        for k, b in enumerate(self.biases):
            m = self.maps[k]
            if isinstance(m, ConvMap):
                conv = nn.Conv2d(m.in_shape[0], m.out_shape[0], tuple(m.weight.shape[2:]),
                                 stride=m.stride, padding=m.padding, dilation=m.dilation,
                                 bias=False).double()
                conv.weight.data.copy_(m.weight)
                layers += [nn.Unflatten(1, m.in_shape), conv, nn.Flatten(),
                           ConstAffine(None, b.clone())]
            else:
                lin = nn.Linear(m.shape[1], m.shape[0]).double()
                lin.weight.data.copy_(m)
                lin.bias.data.copy_(b)
                layers.append(lin)
            if k < len(self.biases) - 1:
                layers.append(nn.ReLU())
        net = nn.Sequential(*layers).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def pre_activations(self, x: Tensor) -> list[Tensor]:
        """Every hidden layer's pre-activation values at ``x`` (B, n_in)."""
        out = []
        for k, b in enumerate(self.biases[:-1]):
            z = self.lin(k, x) + b
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


def _conv_map(seg: list[nn.Module], shape: tuple[int, ...]) -> ConvMap | None:
    """The :class:`ConvMap` of a segment that is one convolution between reshapes."""
    convs = [m for m in seg if not isinstance(m, _SHAPE_ONLY)]
    if len(convs) != 1 or type(convs[0]) is not nn.Conv2d:
        return None
    x = torch.zeros(1, *shape, dtype=torch.float64)
    with torch.no_grad():
        for m in seg:
            if m is convs[0]:
                break
            x = m(x)
    return ConvMap.of(convs[0], tuple(x.shape[1:]))


def _offset(seg: list[nn.Module], shape: tuple[int, ...]) -> tuple[Tensor, tuple]:
    """The segment's output at zero (flat) and its output shape."""
    x = torch.zeros(1, *shape, dtype=torch.float64)
    with torch.no_grad():
        for m in seg:
            x = m(x)
    return x.reshape(-1).clone(), tuple(x.shape[1:])


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
    weights: list[Tensor | ConvMap] = []
    biases: list[Tensor] = []
    for seg in segments:
        numel = 1
        for s in shape:
            numel *= s
        conv = _conv_map(seg, shape)
        if conv is not None:
            b, shape = _offset(seg, shape)
            weights.append(conv)
            biases.append(b)
            continue
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
