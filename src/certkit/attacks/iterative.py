"""Shared driver of the multi-step attacks (PGD, APGD): copies, targets, best points.

The batch is tiled into ``restarts x targets`` copies, attacked as one batch. Every evaluated
point is scored by the untargeted version of the attack's loss, a misclassified point beating
any correctly classified one; the strongest point per sample across steps, restarts and
targets is returned. With ``early_stop`` a sample leaves the batch as soon as one of its
copies is misclassified, so only unbroken samples cost model evaluations, and the first copy
runs before the others so that easy samples never cost the other copies anything.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from ..errors import CertkitError
from ..specs import Spec
from .base import Attack, Domain, SpecLike, check_int
from .losses import check_classes, get_loss
from .space import SearchSpace
from .tracker import BestTracker


class IterativeAttack(Attack):
    """Base of PGD and APGD: subclasses implement :meth:`_iterate`."""

    sphere_start = False  # random starts at full radius (APGD) instead of uniform (PGD)

    def __init__(self, model: nn.Module, spec: SpecLike, *, steps: int = 50, restarts: int = 1,
                 loss: str = "ce", targeted: bool = False, n_targets: int | None = None,
                 random_start: bool = True, early_stop: bool = True, norm: str = "linf",
                 domain: Domain = (0.0, 1.0), seed: int | None = 0) -> None:
        super().__init__(model, spec, norm=norm, domain=domain, seed=seed)
        self.steps = check_int("steps", steps, 1)
        self.restarts = check_int("restarts", restarts, 1)
        self.loss_name = loss
        self.loss_fn = get_loss(loss)
        self.targeted = bool(targeted)
        self.n_targets = None if n_targets is None else check_int("n_targets", n_targets, 1)
        if self.n_targets is not None and not self.targeted:
            raise CertkitError("n_targets needs targeted=True")
        self.random_start, self.early_stop = bool(random_start), bool(early_stop)

    def describe(self) -> dict[str, object]:
        d = {**super().describe(), "steps": self.steps, "restarts": self.restarts,
             "loss": self.loss_name}
        if self.targeted:
            d["targets"] = self.n_targets or "all"
        return d

    # ----- driver -----
    def _run(self, x: torch.Tensor, y: torch.Tensor, spec: Spec) -> torch.Tensor:
        with torch.no_grad():
            z0 = self.forward(x)
        check_classes(self.loss_name, self.num_classes, self.targeted)
        targets = self._targets(z0, y)
        n_t = 1 if targets is None else targets.shape[0] // x.shape[0]
        copies = self.restarts * n_t
        space = SearchSpace(spec, copies)
        g = self.generator(x.device)
        p = space.start(x, 0 if self.random_start else n_t, g, sphere=self.sphere_start)
        tracker = BestTracker(p, x.shape[0], self.early_stop)
        if self.early_stop and not space.param:
            self._mark_clean_errors(tracker, p, spec, x, y, z0)
        y_rows = y.repeat(copies)
        t_rows = None if targets is None else targets.repeat(self.restarts)
        for first, last in self._phases(copies):
            tracker.activate(first, last)
            p = self._iterate(space, p, tracker, y_rows, t_rows)
            idx = tracker.active_rows()
            if idx.numel():
                with torch.no_grad():
                    z = self.forward(space.inputs_of(p, idx, p[idx]))
                self.record(tracker, idx, p[idx], z, y_rows[idx])
        return tracker.result(p)[0]

    def _phases(self, copies: int) -> list[tuple[int, int]]:
        """Copy ranges attacked one after the other.

        With early stopping the first copy runs alone, so samples it breaks (most breakable
        ones) never cost the other copies anything; the rest then run together, vectorised.
        """
        if not self.early_stop or copies == 1:
            return [(0, copies)]
        return [(0, 1), (1, copies)]

    @abstractmethod
    def _iterate(self, space: SearchSpace, p: torch.Tensor, tracker: BestTracker,
                 y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Run the steps from ``p`` (recording points in ``tracker``); the last iterate."""

    # ----- helpers -----
    def row_loss(self, z: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                 ) -> torch.Tensor:
        """The attack objective of rows with labels ``y`` (and targets)."""
        return self.loss_fn(z, y, target)

    def record(self, tracker: BestTracker, idx: torch.Tensor, p_rows: torch.Tensor,
               z: torch.Tensor, y: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """Score evaluated points (``loss``: their untargeted loss, if already computed)."""
        crit = loss if loss is not None else self.loss_fn(z, y, None)
        tracker.update(idx, p_rows, z.argmax(dim=1) != y, crit)

    def _targets(self, z0: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Target classes, copy-major (n_t * B,): the other classes by decreasing clean logit."""
        if not self.targeted:
            return None
        k = self.num_classes - 1 if self.n_targets is None else min(self.n_targets,
                                                                    self.num_classes - 1)
        masked = z0.scatter(1, y[:, None], float("-inf"))
        order = masked.argsort(dim=1, descending=True)[:, :k]
        return order.t().reshape(-1)

    def _mark_clean_errors(self, tracker: BestTracker, p: torch.Tensor, spec: Spec,
                           x: torch.Tensor, y: torch.Tensor, z0: torch.Tensor) -> None:
        """Samples already misclassified at ``x`` (inside the set) need no attack: their
        first copy is set to ``x`` and recorded as fooled."""
        wrong = (z0.argmax(dim=1) != y) & spec.contains(x)
        if bool(wrong.any()):
            idx = wrong.nonzero().squeeze(1)
            p[idx] = x[idx]
            self.record(tracker, idx, x[idx], z0[idx], y[idx])
