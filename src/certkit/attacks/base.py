"""The attack base class: one verb, ``x_adv = attack(x, y)``.

``__call__`` checks the inputs, builds the perturbation set for the batch, puts the model in
eval mode with its parameters frozen (so no parameter gradients are computed or touched),
runs the attack, projects the result onto the set, checks it is inside, and restores every
module's train/eval mode and every parameter's ``requires_grad``.

The set is given as an eps (an Linf or L2 ball around ``x`` within the domain), as a
:class:`~certkit.specs.Spec` for exactly this batch, or as a factory ``x -> Spec``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import CertkitError, choice_error
from ..models.kernels import fast_input_gradients
from ..specs import Box, L2Ball, LinfBall, Spec
from .space import SearchSpace

SpecLike = float | torch.Tensor | Spec | Callable[[torch.Tensor], Spec]
Domain = tuple[float, float] | None
NORMS = {"linf": "linf", "inf": "linf", "l2": "l2", "2": "l2"}


def check_int(name: str, value: int, minimum: int) -> int:
    """``value`` as an int, or a clear error when it is below ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise CertkitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: float) -> float:
    """``value`` as a float, or a clear error when it is not finite and > 0."""
    if not math.isfinite(value) or value <= 0:
        raise CertkitError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def normalise_norm(norm: str) -> str:
    """``linf`` or ``l2`` from the accepted spellings."""
    key = str(norm).lower().replace("_", "")
    if key not in NORMS:
        raise choice_error("norm", norm, ["linf", "l2"])
    return NORMS[key]


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` inside (convolutions then back-propagate to their
    input only, with :func:`~certkit.models.kernels.fast_input_gradients`); each module's and
    parameter's state after."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with fast_input_gradients(model):
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def model_device_dtype(model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """Device and dtype of the model's first parameter (or buffer); None if it has neither."""
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return None, None


class Attack(ABC):
    """Base class: subclasses implement :meth:`_run` on a validated batch and its spec."""

    needs_labels = True

    def __init__(self, model: nn.Module, spec: SpecLike, *, norm: str = "linf",
                 domain: Domain = (0.0, 1.0), seed: int | None = 0) -> None:
        if not isinstance(model, nn.Module):
            raise CertkitError("the model must be a torch.nn.Module")
        self.model, self.norm, self.domain, self.seed = model, normalise_norm(norm), domain, seed
        if not isinstance(spec, Spec) and not callable(spec):
            eps = torch.as_tensor(spec, dtype=torch.float64)
            if not bool(torch.isfinite(eps).all()) or bool((eps < 0).any()):
                raise CertkitError(f"eps must be finite and >= 0, got {spec}")
        self.spec = spec
        self._gen: torch.Generator | None = None
        self._checked, self._labels = False, torch.zeros(0, dtype=torch.long)
        self.num_classes = 0
        #: the last call's final params when its spec was searched in a coefficient box
        #: (bias fields, affine sets): (B, k), inside the box; None for plain specs
        self.last_params: torch.Tensor | None = None

    # ----- the verb -----
    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial points for ``x`` (labels ``y``), inside the set, same device and dtype."""
        device, dtype = model_device_dtype(self.model)
        x_dev = x.device if isinstance(x, torch.Tensor) else None
        with torch.inference_mode(False), torch.enable_grad():
            x, y = self._check_inputs(x, y, device, dtype)
            if x.shape[0] == 0:
                return x.clone().to(x_dev)
            spec = self.make_spec(x)
            self._checked, self._labels = False, y
            with frozen(self.model):
                p = self._run(x, y, spec)
            out = self._finish(spec, p)
        return out.to(x_dev)

    @abstractmethod
    def _run(self, x: torch.Tensor, y: torch.Tensor, spec: Spec) -> torch.Tensor:
        """The attack: best params per sample (B, ...) in the spec's search space."""

    # ----- helpers for subclasses -----
    def forward(self, x_in: torch.Tensor) -> torch.Tensor:
        """Model logits; the first call of each attack checks their shape."""
        z = self.model(x_in)
        if not self._checked:
            self._check_logits(z, x_in.shape[0])
            self.num_classes = int(z.shape[1])
            self._check_labels(self._labels, self.num_classes)
            self._checked = True
        return z

    def loss_grad(self, space: SearchSpace, p: torch.Tensor, idx: torch.Tensor,
                  loss_fn: Callable[[torch.Tensor], torch.Tensor],
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Params of rows ``idx`` (detached), their logits, per-row loss and its gradient."""
        rows = (p if idx.numel() == p.shape[0] else p[idx]).detach()
        leaf = rows.detach().requires_grad_(True)
        z = self.forward(space.inputs_of(p, idx, leaf))
        loss = loss_fn(z)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
        return rows, z.detach(), loss.detach(), grad

    def generator(self, device: torch.device) -> torch.Generator | None:
        """The attack's random generator (seeded once, advancing across calls); None: global."""
        if self.seed is None:
            return None
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device)
            self._gen.manual_seed(int(self.seed))
        return self._gen

    def make_spec(self, x: torch.Tensor) -> Spec:
        """The perturbation set of this batch."""
        s = self.spec
        if not isinstance(s, Spec) and callable(s):
            s = s(x)
            if not isinstance(s, Spec):
                raise CertkitError(f"the spec factory returned {type(s).__name__}, not a Spec")
        if isinstance(s, Spec):
            if s.batch_size != x.shape[0]:
                raise CertkitError(f"the spec covers {s.batch_size} samples but the batch has "
                                   f"{x.shape[0]}; pass eps or a spec factory to attack batches")
            return s
        eps = torch.as_tensor(s, dtype=x.dtype, device=x.device)
        if self.norm == "linf":
            ball = LinfBall(x, eps, self.domain)  # checks x for NaN/Inf in the same pass
            lo, hi = ball.center_range
            if self.domain is not None and not ball.center_inside and (
                    lo < self.domain[0] - 1e-6 or hi > self.domain[1] + 1e-6):
                raise self._domain_error()
            return ball
        return L2Ball(x, eps, self.domain)

    def _linf_eps(self) -> bool:
        """Whether the set is an Linf ball given by its eps (built by :meth:`make_spec`)."""
        return self.norm == "linf" and not isinstance(self.spec, Spec) and not callable(
            self.spec)

    def _domain_error(self) -> CertkitError:
        assert self.domain is not None
        return CertkitError(f"inputs must lie in [{self.domain[0]}, {self.domain[1]}] "
                            "(the model carries its own normalisation)")

    def describe(self) -> dict[str, Any]:
        """Settings shown by ``repr`` (subclasses add theirs)."""
        eps = self.spec if isinstance(self.spec, float | int) else type(self.spec).__name__
        return {"eps": eps, "norm": self.norm}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.describe().items())
        return f"{type(self).__name__}({args})"

    # ----- checks -----
    def _check_inputs(self, x: Any, y: Any, device: torch.device | None,
                      dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise CertkitError("x must be a floating-point tensor of shape (batch, ...)")
        if dtype is not None and x.dtype != dtype:
            raise CertkitError(f"inputs are {x.dtype} but the model is {dtype}")
        # no copy: attacks never write into x (their iterates are new tensors)
        x = x.detach().to(device if device is not None else x.device)
        if x.numel() and not self._linf_eps():  # the Linf ball checks x itself (make_spec)
            lo, hi = (float(v) for v in x.aminmax())  # one pass: NaN/Inf and the domain
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise CertkitError("input contains NaN or Inf")
            if self.domain is not None and not isinstance(self.spec, Spec) and (
                    lo < self.domain[0] - 1e-6 or hi > self.domain[1] + 1e-6):
                raise self._domain_error()
        if y is None:
            if self.needs_labels:
                raise CertkitError(f"{type(self).__name__} needs labels")
            return x, torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
            raise CertkitError("labels must be an integer tensor")
        if y.shape != (x.shape[0],):
            raise CertkitError(f"labels of shape {tuple(y.shape)} do not fit a batch of "
                               f"{x.shape[0]}")
        if y.numel() and int(y.min()) < 0:
            raise CertkitError("labels must be >= 0")
        return x, y.detach().to(device=x.device, dtype=torch.long)

    def _check_logits(self, z: Any, batch: int) -> None:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] != batch:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise CertkitError(f"the model must return logits of shape (batch, classes); got "
                               f"{shape} for a batch of {batch}")
        if z.shape[1] < 2:
            raise CertkitError("the model must return at least 2 logits per sample")
        if not bool(torch.isfinite(z).all()):
            raise CertkitError("the model returned NaN or Inf logits")

    def _check_labels(self, y: torch.Tensor, num_classes: int) -> None:
        if self.needs_labels and y.numel() and int(y.max()) >= num_classes:
            raise CertkitError(f"label {int(y.max())} out of range for a model with "
                               f"{num_classes} classes")

    def _finish(self, spec: Spec, p: torch.Tensor) -> torch.Tensor:
        """Project the params onto the set, check membership, map to inputs."""
        space = SearchSpace(spec)
        p = space.set.project(p.detach())
        if p.numel() and not all(math.isfinite(float(v)) for v in p.aminmax()):
            raise CertkitError(f"{type(self).__name__} met NaN or Inf (the model's outputs or "
                               "gradients overflowed)")
        # a box projection is a clamp, inside by construction; other sets are checked
        ok = None if type(space.set) in (Box, LinfBall) else space.set.contains(p, tol=1e-5)
        if ok is not None and not bool(ok.all()):
            raise RuntimeError(f"{type(self).__name__} produced {int((~ok).sum())} points "
                               "outside the set; this is a bug in certkit")
        self.last_params = p.detach() if space.param else None
        return space.to_input(p).detach()
