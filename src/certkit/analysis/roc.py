"""Certification ROC (Franco et al., Table 1) and detection metrics (AUROC, FPR at 95% TPR).

A sample with robust radius ``r`` (the largest certified eps; -1 when robust nowhere) is
certified at every ``eps <= r``. Over an eps grid, with ``N`` samples of which ``C`` are
correctly and ``I`` incorrectly classified:

    CCR = CC / N    CIR = CI / N    TPR = CC / C    FPR = CI / I

where CC (CI) counts the certified correct (incorrect) samples at that eps. The ROC is
(FPR, TPR) as eps varies; its AUC is the trapezoid area including the end points (0, 0) and
(1, 1). When the grid contains every radius, that AUC equals the AUROC of the radius as a
score for "correctly classified" (what ``sklearn.metrics.roc_auc_score`` computes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import CertkitError


def _np(a: Any, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=dtype).reshape(-1)


@dataclass
class CertRoc:
    """Counts and rates of the certification ROC over an eps grid (arrays of grid length)."""

    eps: np.ndarray
    cc: np.ndarray
    ci: np.ndarray
    n: int
    correct: int
    incorrect: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ccr(self) -> np.ndarray:
        return self.cc / self.n

    @property
    def cir(self) -> np.ndarray:
        return self.ci / self.n

    @property
    def tpr(self) -> np.ndarray:
        return self.cc / self.correct if self.correct else np.zeros_like(self.eps)

    @property
    def fpr(self) -> np.ndarray:
        return self.ci / self.incorrect if self.incorrect else np.zeros_like(self.eps)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def auc(self) -> float:
        """Area under TPR vs FPR (trapezoid, with the end points (0, 0) and (1, 1))."""
        return curve_auc(self.fpr, self.tpr)

    def eps_for_cir(self, target: float) -> float | None:
        """Smallest grid eps at which CIR <= ``target`` (None if never)."""
        ok = np.nonzero(self.cir <= target + 1e-12)[0]
        return float(self.eps[ok[0]]) if ok.size else None

    def rows(self) -> list[dict[str, Any]]:
        """One CSV row per grid eps."""
        ccr, cir, tpr, fpr = self.ccr, self.cir, self.tpr, self.fpr
        return [{"eps": float(self.eps[i]), "cc": int(self.cc[i]), "ci": int(self.ci[i]),
                 "ccr": float(ccr[i]), "cir": float(cir[i]), "tpr": float(tpr[i]),
                 "fpr": float(fpr[i])} for i in range(self.eps.size)]

    def summary(self, target_cir: float = 0.01) -> dict[str, Any]:
        """AUC, accuracy, and the eps (with its CCR) that meets ``target_cir``."""
        e = self.eps_for_cir(target_cir)
        at = None if e is None else int(np.searchsorted(self.eps, e))
        return {"n": self.n, "accuracy": self.accuracy, "auc": self.auc(),
                "target_cir": target_cir, "eps_at_target_cir": e,
                "ccr_at_target_cir": None if at is None else float(self.ccr[at]),
                **self.extra}


def certification_roc(radius: Any, correct: Any, grid: Any) -> CertRoc:
    """The exact ROC over ``grid`` from per-sample radii (``-1``: never robust) and correctness."""
    r, ok = _np(radius), _np(correct, bool)
    eps = _np(grid)
    if r.shape != ok.shape:
        raise CertkitError(f"{r.size} radii but {ok.size} correctness flags")
    if r.size == 0:
        raise CertkitError("the ROC needs at least one sample")
    if eps.size == 0 or bool(np.any(np.diff(eps) <= 0)):
        raise CertkitError("the eps grid must be non-empty and strictly increasing")
    rc, ri = np.sort(r[ok]), np.sort(r[~ok])
    # certified at eps  <=>  radius >= eps
    cc = rc.size - np.searchsorted(rc, eps, side="left")
    ci = ri.size - np.searchsorted(ri, eps, side="left")
    return CertRoc(eps=eps, cc=cc, ci=ci, n=int(r.size), correct=int(ok.sum()),
                   incorrect=int((~ok).sum()))


def roc_from_verdicts(robust: Any, correct: Any, grid: Any) -> CertRoc:
    """The ROC from a brute-force (N, P) table of robust verdicts (one column per grid eps)."""
    rob = np.asarray(robust.cpu().numpy() if isinstance(robust, torch.Tensor) else robust,
                     dtype=bool)
    ok = _np(correct, bool)
    eps = _np(grid)
    if rob.shape != (ok.size, eps.size):
        raise CertkitError(f"verdicts of shape {rob.shape}, expected {(ok.size, eps.size)}")
    return CertRoc(eps=eps, cc=(rob & ok[:, None]).sum(0), ci=(rob & ~ok[:, None]).sum(0),
                   n=int(ok.size), correct=int(ok.sum()), incorrect=int((~ok).sum()))


def curve_auc(fpr: Any, tpr: Any) -> float:
    """Trapezoid area under a (FPR, TPR) point set, closed with (0, 0) and (1, 1)."""
    f = np.concatenate([[0.0], _np(fpr), [1.0]])
    t = np.concatenate([[0.0], _np(tpr), [1.0]])
    order = np.lexsort((t, f))
    f, t = f[order], t[order]
    return float(np.sum(np.diff(f) * (t[1:] + t[:-1]) / 2.0))


def _scores(pos: Any, neg: Any) -> tuple[np.ndarray, np.ndarray]:
    p, n = _np(pos), _np(neg)
    if p.size == 0 or n.size == 0:
        raise CertkitError("detection metrics need at least one sample of each kind")
    if not (np.isfinite(p).all() and np.isfinite(n).all()):
        raise CertkitError("detection scores contain NaN or Inf")
    return p, n


def auroc(pos: Any, neg: Any) -> float:
    """P(score_pos > score_neg) + P(tie) / 2: the area under the ROC of "higher = positive"."""
    p, n = _scores(pos, neg)
    allv = np.concatenate([p, n])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(allv.size, dtype=np.float64)
    sorted_v = allv[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: p.size].sum() - p.size * (p.size + 1) / 2.0
    return float(u / (p.size * n.size))


def fpr_at_tpr(pos: Any, neg: Any, tpr: float = 0.95) -> float:
    """Fraction of negatives accepted when the threshold keeps ``tpr`` of the positives.

    Higher score = positive. The threshold is the largest ``t`` with
    ``mean(pos >= t) >= tpr``; the result is ``mean(neg >= t)``.
    """
    p, n = _scores(pos, neg)
    if not 0 < tpr <= 1:
        raise CertkitError(f"tpr must be in (0, 1], got {tpr}")
    ps = np.sort(p)[::-1]
    k = int(np.ceil(tpr * p.size - 1e-9))  # positives that must be accepted
    t = ps[max(k, 1) - 1]
    return float(np.mean(n >= t))


def detection_metrics(id_scores: Any, ood_scores: Any) -> dict[str, float]:
    """AUROC and FPR95 of an OOD detector (scores: higher = more OOD; ID is "negative").

    AUROC is P(score_ood > score_id); FPR95 is the fraction of OOD samples taken for ID when
    95% of the ID samples are (the convention of ODIN, Mahalanobis, Energy and Franco et al.).
    """
    i, o = _np(id_scores), _np(ood_scores)
    return {"auroc": auroc(o, i), "fpr95": fpr_at_tpr(-i, -o, 0.95)}
