"""Per-row bookkeeping shared by iterative attacks: the strongest point and early stopping.

A point beats another when it is misclassified and the other is not, or when both agree on
that and its selection loss is higher. Rows are tiled copies of a batch of ``B`` samples
(row ``r`` is sample ``r % B``). With early stopping every copy of a sample stops as soon as
one copy misclassifies it; a stopped row is never moved again, so the iterate itself holds
the misclassified point and no per-step copies of points are needed (the last iterate is
kept for the others). Without early stopping the best point of every row is copied aside.
"""

from __future__ import annotations

import torch


class BestTracker:
    """The verdict, loss and (without early stop) best point of every row; the active rows."""

    def __init__(self, p: torch.Tensor, batch: int, early_stop: bool = True) -> None:
        n = p.shape[0]
        self.batch, self.copies, self.early_stop = batch, n // batch, early_stop
        self.best = None if early_stop else p.detach().clone()
        self.loss = torch.full((n,), float("-inf"), device=p.device, dtype=p.dtype)
        self.fooled = torch.zeros(n, dtype=torch.bool, device=p.device)
        self.active = torch.zeros(n, dtype=torch.bool, device=p.device)

    def activate(self, first: int, last: int) -> None:
        """Attack copies ``first..last-1`` (with early stopping: of unbroken samples only)."""
        self.active.zero_()
        self.active[first * self.batch:last * self.batch] = True
        if self.early_stop:
            broken = self.fooled.view(self.copies, self.batch).any(dim=0)
            self.active &= ~broken.repeat(self.copies)

    def active_rows(self) -> torch.Tensor:
        """Indices of the rows being attacked."""
        return self.active.nonzero().squeeze(1)

    def update(self, idx: torch.Tensor, p_rows: torch.Tensor, fooled: torch.Tensor,
               loss: torch.Tensor) -> None:
        """Record the points ``p_rows`` of rows ``idx`` with their verdict and loss."""
        loss = loss.detach().to(self.loss.dtype)
        if self.best is None:  # early stop: the latest point is the one that counts
            self.loss[idx], self.fooled[idx] = loss, fooled
            if bool(fooled.any()):
                broken = torch.zeros(self.batch, dtype=torch.bool, device=idx.device)
                broken[idx[fooled] % self.batch] = True
                self.active &= ~broken.repeat(self.copies)
            return
        was = self.fooled[idx]
        better = (fooled & ~was) | ((fooled == was) & (loss > self.loss[idx]))
        take = idx[better]
        self.best[take] = p_rows[better].detach()
        self.loss[take], self.fooled[take] = loss[better], fooled[better]

    def result(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per sample across copies: the best params (B, ...), fooled (B,), loss (B,).

        ``p`` is the final iterate (used with early stopping).
        """
        points = p if self.best is None else self.best
        shape = (self.copies, self.batch)
        fooled, loss = self.fooled.view(shape), self.loss.view(shape)
        any_fooled = fooled.any(dim=0, keepdim=True)
        key = torch.where(any_fooled & ~fooled, torch.full_like(loss, float("-inf")), loss)
        key = torch.nan_to_num(key, nan=float("-inf"))
        pick = key.argmax(dim=0)
        rows = pick * self.batch + torch.arange(self.batch, device=pick.device)
        return points[rows], self.fooled[rows], self.loss[rows]
