"""Per-sample verdicts at one eps each, for the bisection of :mod:`certkit.analysis.max_eps`.

A verdict maps a batch ``x`` and one eps per sample to "robust" (bool per sample).

:func:`certify_verdict` is "certified robust by a bound method". With ``precision="mixed"``
(the default for float32 models) the bounds are first computed in float32 and the verdict
is taken from them wherever the float32 margin clears zero by more than a rounding band;
only the samples inside the band are recomputed in float64 on a float64 copy of the model
(as :func:`certkit.verify.certify` does for every sample). The band is
``SCREEN_BAND * (1 + max_j |f_j(x)|)``: on the conv-small MNIST networks of
``benchmarks/cert_roc.py`` the float32 and float64 CROWN margins differ by at most
``1.3e-6 * (1 + max |logit|)`` over 576 (image, eps) pairs, so the band leaves a factor of
about 80 to spare, and a verdict taken from float32 is the float64 verdict. Both the
bisection and the brute-force grid use the same verdict, so they still agree exactly.

:func:`attack_verdict` is "PGD fails to change the prediction" (an upper bound of
robustness).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..bounds import BoundOptions, get_method, propagate
from ..errors import CertkitError
from ..specs import LinfBall
from ..specs.lp import Domain
from ..verify.certify import margin_matrix

Verdict = Callable[[Tensor, Tensor], Tensor]  # (x batch, eps per sample) -> robust (bool)
PRECISIONS = ("mixed", "float64")
SCREEN_BAND = 1e-4  # relative rounding band of float32 margins (see the module docstring)


def _float_dtype(model: nn.Module) -> torch.dtype:
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _margins(model: nn.Module, xb: Tensor, eps: Tensor, pred: Tensor, k: int, method: str,
             domain: Domain, options: BoundOptions | None, dtype: torch.dtype) -> Tensor:
    """Lower bound of ``min_{j != pred} f_pred - f_j`` over each sample's ball, in ``dtype``."""
    spec = LinfBall(xb, eps.to(xb.device), domain=domain).to(dtype)  # rebuilt from x, eps
    with torch.no_grad():
        lower = propagate(model, spec, method=method, C=margin_matrix(pred, k, dtype),
                          which="lower", options=options).lower
    return lower.min(dim=1).values


class CertifyVerdict:
    """Verdict "certified robust at eps" by ``method``; see the module docstring.

    A call bounds its samples in chunks of ``batch_size`` (default: all at once), in the
    order given, and then recomputes all samples the float32 screen left unsure in float64,
    again in such chunks: the few unsure samples of many chunks share bound calls.
    ``screened`` and ``rechecked`` count the samples decided by float32 and those recomputed
    in float64 (for benchmarks and tests).
    """

    def __init__(self, model: nn.Module, method: str = "crown", *,
                 domain: Domain = (0.0, 1.0), options: BoundOptions | None = None,
                 precision: str = "mixed", batch_size: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise CertkitError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if batch_size is not None and batch_size < 1:
            raise CertkitError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.method, self.batch_size = model, get_method(method).name, batch_size
        self.domain, self.options = domain, options
        self.screen = precision == "mixed" and _float_dtype(model) == torch.float32
        self.exact = model if _float_dtype(model) == torch.float64 else \
            copy.deepcopy(model).to(torch.float64).eval()
        self.screened = self.rechecked = 0

    def __call__(self, xb: Tensor, eps: Tensor) -> Tensor:
        return self.margins(xb, eps) > 0

    def clean_margins(self, xb: Tensor) -> Tensor:
        """``f_pred - max_{j != pred} f_j`` at the points themselves (the margin at eps 0)."""
        with torch.no_grad():
            top = self.model(xb).topk(2, dim=1).values
        return (top[:, 0] - top[:, 1]).to(torch.float64).cpu()

    def clean_slopes(self, xb: Tensor) -> Tensor:
        """Per sample, ``d/d eps`` at eps 0 of the margin's linearisation (float64, <= 0).

        Each row ``f_pred - f_j`` falls at rate ``sum_i |g_i|`` (``g`` its input gradient;
        a coordinate on the edge of the domain only counts the inward direction); the rate
        returned is the one whose linear model reaches zero first, rescaled to the clean
        margin, so ``clean - rate * eps`` vanishes where the first row does.
        """
        x = xb.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = self.model(x)
            pred = out.argmax(dim=1)
            k = out.shape[1]
            rows = out.gather(1, pred[:, None]) - out  # (B, K), zero at pred
            grads = [torch.autograd.grad(rows[:, j].sum(), x, retain_graph=j < k - 1)[0]
                     for j in range(k)]
        g = torch.stack(grads, dim=1).flatten(2).to(torch.float64)  # (B, K, n)
        xf = xb.detach().flatten(1).unsqueeze(1).to(torch.float64)
        rate = -g.abs()
        if self.domain is not None:
            low, high = self.domain
            rate = torch.where(xf <= low, g.clamp(max=0), rate)
            rate = torch.where(xf >= high, -g.clamp(min=0), rate)
        rate = rate.sum(dim=2)  # (B, K) <= 0
        m0 = rows.detach().to(torch.float64)
        root = torch.where(rate < 0, m0 / -rate, torch.full_like(m0, float("inf")))
        root[torch.arange(xb.shape[0]), pred] = float("inf")
        first = root.min(dim=1).values
        clean = m0.masked_fill(torch.eye(k, dtype=torch.bool)[pred.cpu()].to(m0.device),
                               float("inf")).min(dim=1).values
        return torch.where(torch.isfinite(first), -clean / first,
                           torch.zeros_like(first)).cpu()

    def margins(self, xb: Tensor, eps: Tensor) -> Tensor:
        """Lower bounds of the margin at eps (float64, CPU): robust where positive.

        Where the float32 bound decides the verdict its value is returned, elsewhere the
        float64 one.
        """
        with torch.no_grad():
            logits = self.model(xb)
        if logits.dim() != 2 or logits.shape[1] < 2:
            raise CertkitError(f"certification needs logits of shape (B, K >= 2), got "
                               f"{tuple(logits.shape)}")
        if not bool(torch.isfinite(logits).all()):
            raise CertkitError("the model's outputs on x contain NaN or Inf")
        pred, k = logits.argmax(dim=1), logits.shape[1]
        eps = eps.to(torch.float64)
        step = self.batch_size or max(1, xb.shape[0])

        def bounded(model: nn.Module, idx: Tensor, dtype: torch.dtype) -> Tensor:
            parts = [_margins(model, xb[i], eps[i.to(eps.device)], pred[i], k, self.method,
                              self.domain, self.options, dtype).to(torch.float64)
                     for i in idx.split(step)]
            return torch.cat(parts) if parts else eps.new_zeros(0)

        everyone = torch.arange(xb.shape[0], device=xb.device)
        if not self.screen:
            return bounded(self.exact, everyone, torch.float64).cpu()
        m = bounded(self.model, everyone, torch.float32)
        band = SCREEN_BAND * (1 + logits.abs().amax(dim=1))
        unsure = torch.nonzero(m.abs() <= band).flatten()
        self.screened += xb.shape[0] - unsure.numel()
        if unsure.numel():
            self.rechecked += unsure.numel()
            m[unsure] = bounded(self.exact, unsure, torch.float64)
        return m.cpu()


def certify_verdict(model: nn.Module, method: str = "crown", *, domain: Domain = (0.0, 1.0),
                    options: BoundOptions | None = None, precision: str = "mixed",
                    batch_size: int | None = None) -> CertifyVerdict:
    """Verdict "certified robust at eps" (float32 screen, float64 where it is close)."""
    return CertifyVerdict(model, method, domain=domain, options=options, precision=precision,
                          batch_size=batch_size)


def attack_verdict(model: nn.Module, *, steps: int = 50, restarts: int = 1,
                   loss: str = "margin", seed: int = 0,
                   domain: Domain = (0.0, 1.0)) -> Verdict:
    """Verdict "PGD fails to change the prediction at eps" (an upper bound of robustness)."""
    from ..attacks import PGD

    def verdict(xb: Tensor, eps: Tensor) -> Tensor:
        with torch.no_grad():
            pred = model(xb).argmax(dim=1)
        spec = LinfBall(xb, eps.to(xb.dtype), domain=domain)
        atk = PGD(model, spec, steps=steps, restarts=restarts, loss=loss, seed=seed,
                  domain=domain)
        x_adv = atk(xb, pred)
        with torch.no_grad():
            return (model(x_adv).argmax(dim=1) == pred).cpu()

    return verdict
