"""Mahalanobis detector (Lee et al. 2018) on penultimate features, with input preprocessing.

Fit: class means ``mu_c`` and one shared covariance ``S`` of the features ``h(x)`` (the
network up to its last linear layer). Score: ``min_c (h - mu_c)^T P (h - mu_c)`` with
``P`` the pseudo-inverse of ``S`` (optionally shrunk towards ``tr(S)/d * I``), computed in
float64 with an eigen-decomposition, so a singular covariance (dead ReLUs, constant
features, fewer samples than features) never fails. Preprocessing moves ``x`` by
``magnitude`` against the sign of the gradient of its closest-class distance (in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...errors import CertkitError
from .base import Detector, Loader, iter_batches


def penultimate(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The features before the last linear layer of a Sequential classifier."""
    if not isinstance(model, nn.Sequential) or not isinstance(model[-1], nn.Linear):
        raise CertkitError("Mahalanobis needs an nn.Sequential ending in nn.Linear (or a "
                           "features function)")
    body = model[:-1]
    return lambda x: body(x).flatten(1)


def robust_precision(cov: Tensor, shrinkage: float = 0.0, rtol: float = 1e-10) -> Tensor:
    """Pseudo-inverse of a symmetric PSD matrix, after optional shrinkage (float64)."""
    c = cov.to(torch.float64)
    c = (c + c.T) / 2
    d = c.shape[0]
    if shrinkage > 0:
        c = (1 - shrinkage) * c + shrinkage * torch.trace(c) / d * torch.eye(d, dtype=c.dtype)
    vals, vecs = torch.linalg.eigh(c)
    cutoff = rtol * max(float(vals.abs().max()), 0.0)
    inv = torch.where(vals > cutoff, 1.0 / vals.clamp_min(1e-300), torch.zeros_like(vals))
    return (vecs * inv) @ vecs.T


class Mahalanobis(Detector):
    """Closest class-conditional Gaussian (shared covariance) in feature space."""

    name = "mahalanobis"
    title = "Mahalanobis"
    paper = "Lee, Lee, Lee & Shin, NeurIPS 2018"
    needs_fit = True
    needs_grad = True

    def __init__(self, model: nn.Module, *, magnitude: float = 0.0, shrinkage: float = 0.0,
                 features: Callable[[Tensor], Tensor] | None = None,
                 batch_size: int = 256) -> None:
        super().__init__(model, batch_size=batch_size)
        if not magnitude >= 0 or not 0 <= shrinkage <= 1:
            raise CertkitError("Mahalanobis needs magnitude >= 0 and shrinkage in [0, 1]")
        self.magnitude, self.shrinkage = float(magnitude), float(shrinkage)
        self.features = features if features is not None else penultimate(model)
        self.means: Tensor | None = None
        self.precision: Tensor | None = None

    def fit(self, data: Loader) -> Mahalanobis:
        """Class means and shared covariance of the features of labelled ID data."""
        feats, labels = [], []
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for xb, yb in iter_batches(data, self.batch_size):
                    if yb is None:
                        raise CertkitError("Mahalanobis.fit needs labelled (x, y) data")
                    feats.append(self.features(xb).to(torch.float64).cpu())
                    labels.append(yb.cpu().long())
        finally:
            self.model.train(was_training)
        if not feats:
            raise CertkitError("Mahalanobis.fit got no data")
        h, y = torch.cat(feats), torch.cat(labels)
        classes = torch.unique(y)
        means = torch.stack([h[y == c].mean(0) for c in classes])
        centred = h - means[torch.searchsorted(classes, y)]
        cov = centred.T @ centred / h.shape[0]
        self.classes, self.means = classes, means
        self.precision = robust_precision(cov, self.shrinkage)
        self.fitted = True
        return self

    def distances(self, h: Tensor) -> Tensor:
        """Squared Mahalanobis distance of features ``h`` to every class mean: (B, K)."""
        assert self.means is not None and self.precision is not None
        means = self.means.to(h.device, h.dtype)
        prec = self.precision.to(h.device, h.dtype)
        diff = h[:, None, :] - means[None, :, :]
        return torch.einsum("bkd,de,bke->bk", diff, prec, diff)

    def _preprocess(self, x: Tensor) -> Tensor:
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            h = self.features(xg).to(torch.float64)
            dist = self.distances(h).min(dim=1).values.sum()
            (grad,) = torch.autograd.grad(dist, xg)
        return (x - self.magnitude * grad.sign()).clamp(0, 1).detach()

    def score(self, x: Tensor) -> Tensor:
        if self.magnitude > 0:
            x = self._preprocess(x)
        with torch.no_grad():
            return self.distances(self.features(x).to(torch.float64)).min(dim=1).values

    def settings(self) -> dict[str, float]:
        return {"magnitude": self.magnitude, "shrinkage": self.shrinkage}
