"""Local Lipschitz estimate (linear models: the induced inf->1 norm) and train/test gaps."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from certkit.analysis.gaps import gaps_run
from certkit.analysis.lipschitz import lipschitz_run, local_lipschitz
from certkit.errors import CertkitError


def _inf_to_one(w: torch.Tensor) -> float:
    """||W||_{inf->1} = max over sign vectors s of ||W s||_1 (brute force)."""
    best = 0.0
    for signs in itertools.product((-1.0, 1.0), repeat=w.shape[1]):
        best = max(best, float((w.double() @ torch.tensor(signs).double()).abs().sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_model_reaches_the_induced_norm(seed: int) -> None:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4)).eval()
    x = 0.3 + 0.4 * torch.rand(20, 1, 2, 3)
    per = local_lipschitz(model, x, 0.1, steps=20, restarts=10, seed=seed)
    truth = _inf_to_one(model[1].weight.detach())
    assert (per <= truth * (1 + 1e-5)).all()  # never above the true constant
    assert float(per.mean()) == pytest.approx(truth, rel=0.005)


def test_softmax_output_is_smaller_and_zero_for_constant() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4)).eval()
    x = torch.rand(8, 6)
    logits = local_lipschitz(model, x, 0.1, steps=5)
    probs = local_lipschitz(model, x, 0.1, steps=5, output="probs")
    assert (probs <= logits + 1e-6).all()  # softmax is 1-Lipschitz from L1 to L1... at most
    const = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    nn.init.zeros_(const[1].weight)
    assert float(local_lipschitz(const.eval(), x, 0.1, steps=3).max()) == 0.0


@pytest.mark.parametrize("kwargs", [{"eps": 0.0}, {"eps": float("inf")}, {"steps": -1},
                                    {"output": "x"}])
def test_lipschitz_bad_arguments(kwargs: dict) -> None:
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    args = {"eps": 0.1, **kwargs}
    with pytest.raises(CertkitError):
        local_lipschitz(model, torch.rand(2, 3), **args)


def test_lipschitz_and_gaps_runs_write_artefacts(studies_run: Path) -> None:
    pytest.importorskip("matplotlib")
    s = lipschitz_run(studies_run, eps=0.1, n=40, steps=5)
    assert s["n"] == 40 and s["lipschitz"] > 0
    assert Path(s["csv"]).is_file() and Path(s["png"]).is_file()
    g = gaps_run(studies_run, eps=0.1, steps=5, n_train=100, n_test=80)
    assert g["n_train"] == 100 and g["n_test"] == 80
    assert g["gap"] == pytest.approx(g["train_acc"] - g["test_acc"])
    assert g["adv_gap"] == pytest.approx(g["adv_train_acc"] - g["adv_test_acc"])
    assert g["adv_test_acc"] <= g["test_acc"] and g["adv_train_acc"] <= g["train_acc"]
    assert g["train_acc"] > 90
    # eps = 0: adversarial accuracy equals clean accuracy
    g0 = gaps_run(studies_run, eps=0.0, steps=2, n_train=50, n_test=50)
    assert g0["adv_test_acc"] == pytest.approx(g0["test_acc"])
    assert json.loads(Path(studies_run / "analysis" / "gaps-eps0.1.json").read_text())["eps"] \
        == 0.1
