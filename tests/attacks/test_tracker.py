"""The strongest-point bookkeeping: misclassified first, then the highest loss."""

from __future__ import annotations

import torch

from certkit.attacks.tracker import BestTracker


def test_best_per_sample_across_copies_and_steps() -> None:
    batch, copies = 3, 2
    p = torch.zeros(batch * copies, 1)
    tr = BestTracker(p, batch, early_stop=False)
    tr.activate(0, copies)
    rows = torch.arange(6)
    # step 1: copy 1 of sample 0 has the highest loss, nothing fooled
    tr.update(rows, torch.full((6, 1), 1.0), torch.zeros(6, dtype=torch.bool),
              torch.tensor([0.1, 0.2, 0.3, 0.5, 0.0, 0.0]))
    # step 2: sample 1 fooled in copy 0 with a lower loss than before; sample 2 improves
    tr.update(rows, torch.full((6, 1), 2.0), torch.tensor([0, 1, 0, 0, 0, 0], dtype=torch.bool),
              torch.tensor([0.0, 0.05, 0.0, 0.0, 0.0, 0.9]))
    best, fooled, loss = tr.result(torch.full((6, 1), 3.0))
    assert fooled.tolist() == [False, True, False]
    torch.testing.assert_close(loss, torch.tensor([0.5, 0.05, 0.9]))
    assert best.flatten().tolist() == [1.0, 2.0, 2.0]
    assert bool(tr.active.all())  # no early stop


def test_early_stop_deactivates_every_copy_of_a_broken_sample() -> None:
    tr = BestTracker(torch.zeros(6, 2), 3, early_stop=True)
    tr.activate(0, 2)
    tr.update(torch.arange(6), torch.zeros(6, 2), torch.zeros(6, dtype=torch.bool),
              torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    tr.update(torch.tensor([4]), torch.ones(1, 2), torch.tensor([True]), torch.tensor([-1.0]))
    assert tr.active.tolist() == [True, False, True, True, False, True]
    assert tr.active_rows().tolist() == [0, 2, 3, 5]
    final = torch.arange(6.0)[:, None].expand(6, 2)  # the iterate: stopped rows stay put
    best, fooled, loss = tr.result(final)
    assert fooled.tolist() == [False, True, False]
    # sample 1: the fooled copy (row 4) wins despite its lower loss; others: higher loss
    assert best[:, 0].tolist() == [3.0, 4.0, 5.0]
    torch.testing.assert_close(loss, torch.tensor([0.4, -1.0, 0.6]))


def test_activate_skips_broken_samples() -> None:
    tr = BestTracker(torch.zeros(6, 1), 3, early_stop=True)
    tr.activate(0, 1)
    assert tr.active.tolist() == [True, True, True, False, False, False]
    tr.update(torch.tensor([1]), torch.ones(1, 1), torch.tensor([True]), torch.tensor([0.0]))
    tr.activate(1, 2)
    assert tr.active.tolist() == [False, False, False, True, False, True]
