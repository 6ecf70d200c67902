"""Incomplete certification: does the prediction stay the same on every point of a set?

For every sample the network's predicted class ``p`` (from the model as given, in its own
floating-point type) is compared with every other class ``j``: the bound method gives a
lower bound of ``f_p(x') - f_j(x')`` over the set, and the sample is *robust* when the
smallest of these lower bounds is positive. It is *certified* (certified correct) when it
is also correctly classified: a misclassified sample is never reported certified, whatever
its bounds (its robustness is still reported, for certified-incorrect rates).

Soundness of verdicts: the bounds behind every verdict are recomputed in float64 on a
float64 copy of the model, with the set rebuilt in float64 from its definition (centre and
radius, not the rounded float32 box). float64 rounding in the propagation is of relative
size ~1e-16 per operation, orders of magnitude below the margins that decide verdicts, and
is not further accounted for; nor is the rounding of a float32 deployment of the network
(the verdicts are about the network's weights in exact arithmetic).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..bounds import BoundOptions, get_method, propagate
from ..bounds.checks import check_tensor
from ..errors import CertkitError
from ..specs.base import Spec


@dataclass(frozen=True)
class CertifyResult:
    """The verdict for one sample."""

    index: int
    label: int | None
    predicted: int
    correct: bool | None
    robust: bool  # the prediction is provably the same on the whole set
    certified: bool  # robust and correctly classified
    margin_lower: float  # lower bound of min_{j != predicted} f_pred - f_j over the set
    seconds: float  # this sample's share of the batch's wall-clock time

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one JSONL row)."""
        return asdict(self)


def margin_matrix(pred: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """Rows ``e_pred - e_j`` for every ``j != pred``: shape (B, K - 1, K)."""
    b = pred.shape[0]
    eye = torch.eye(num_classes, dtype=dtype, device=pred.device)
    rows = eye[pred].unsqueeze(1) - eye.unsqueeze(0)  # (B, K, K)
    keep = torch.ones(b, num_classes, dtype=torch.bool, device=pred.device)
    keep[torch.arange(b, device=pred.device), pred] = False
    return rows[keep].view(b, num_classes - 1, num_classes)


def _dtype_of(model: nn.Module) -> torch.dtype:
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def certify(model: nn.Module, x: Tensor, y: Tensor | None, spec: Spec, method: str = "crown",
            *, options: BoundOptions | None = None,
            dtype: torch.dtype = torch.float64) -> list[CertifyResult]:
    """Certify every sample of ``x`` (labels ``y``, or None) over ``spec`` with ``method``.

    ``spec`` is the batch of input sets (e.g. ``LinfBall(x, eps)``); the model is used in
    eval mode (its mode is restored). ``dtype`` is the type of the verdict computation
    (float64 unless you know what you are giving up).
    """
    get_method(method)
    check_tensor("x", x)
    if spec.batch_size != x.shape[0]:
        raise CertkitError(f"the spec covers {spec.batch_size} samples, x has {x.shape[0]}")
    if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[0]):
        raise CertkitError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    was_training = model.training
    model.eval()
    try:
        start = time.perf_counter()
        with torch.no_grad():
            logits = model(x.to(_dtype_of(model)))
        if logits.dim() != 2 or logits.shape[1] < 2:
            raise CertkitError(f"certification needs logits of shape (B, K >= 2), got "
                               f"{tuple(logits.shape)}")
        if not bool(torch.isfinite(logits).all()):
            raise CertkitError("the model's outputs on x contain NaN or Inf")
        pred = logits.argmax(dim=1)
        exact = model if _dtype_of(model) == dtype else copy.deepcopy(model).to(dtype)
        exact.eval()
        C = margin_matrix(pred, logits.shape[1], dtype)
        with torch.no_grad():
            lower = propagate(exact, spec.to(dtype), method=method, C=C, which="lower",
                              options=options).lower
        margin = lower.min(dim=1).values
        seconds = (time.perf_counter() - start) / x.shape[0]
    finally:
        model.train(was_training)
    labels = None if y is None else y.tolist()
    out = []
    for i in range(x.shape[0]):
        robust = bool(margin[i] > 0)
        correct = None if labels is None else bool(int(pred[i]) == int(labels[i]))
        out.append(CertifyResult(index=i, label=None if labels is None else int(labels[i]),
                                 predicted=int(pred[i]), correct=correct, robust=robust,
                                 certified=robust and correct is True,
                                 margin_lower=float(margin[i]), seconds=seconds))
    return out


def summarize(results: list[CertifyResult]) -> dict[str, Any]:
    """Clean accuracy, certified accuracy, certified-incorrect rate and time per sample."""
    n = len(results)
    if n == 0:
        raise CertkitError("nothing to summarise: no samples were certified")
    labelled = [r for r in results if r.correct is not None]
    out: dict[str, Any] = {"n": n, "robust_rate": sum(r.robust for r in results) / n}
    if labelled:
        out["clean_accuracy"] = sum(bool(r.correct) for r in labelled) / len(labelled)
        out["certified_accuracy"] = sum(r.certified for r in labelled) / len(labelled)
        out["certified_incorrect_rate"] = (sum(r.robust and not r.correct for r in labelled)
                                           / len(labelled))
    out["seconds_per_sample"] = sum(r.seconds for r in results) / n
    return out
