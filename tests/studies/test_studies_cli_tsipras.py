"""``certkit analyze ...`` commands end to end, and the Tsipras et al. distribution."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.data.tsipras import tradeoff_bound, tsipras
from certkit.errors import CertkitError

runner = CliRunner()


def _json(res: object) -> dict:
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [
    ["lipschitz", "{run}", "--eps", "0.1", "--n", "10", "--steps", "2"],
    ["gaps", "{run}", "--steps", "2", "--n-train", "20", "--n-test", "20"],
    ["box-growth", "{run}", "--n", "10"],
    ["relu-states", "{run}", "--n", "10", "--eps", "0.1"],
    ["loss-vs-lambda", "{run}", "--n", "10", "--lambdas", "0.1,1"],
    ["gradient-alignment", "{run}", "{run}", "--n", "10", "--attack-steps", "2"],
])
def test_analyze_commands_print_json_and_write_png(studies_run: Path, args: list[str]) -> None:
    pytest.importorskip("matplotlib")
    out = _json(runner.invoke(app, ["analyze", *[a.format(run=studies_run) for a in args],
                                    "--json"]))
    assert Path(out["png"]).is_file() and Path(out["csv"]).is_file()


def test_analyze_separation_and_user_errors(tmp_path: Path, studies_run: Path) -> None:
    pytest.importorskip("matplotlib")
    out = _json(runner.invoke(app, ["analyze", "separation", "--data", "digits", "--eps", "0.1",
                                    "--train-size", "200", "--test-size", "50", "--out",
                                    str(tmp_path), "--json"]))
    assert out["train_train_min"] > 0 and out["test_points"] == 50
    bad = runner.invoke(app, ["analyze", "separation", "--data", "digits", "--norm", "l7"])
    assert bad.exit_code == 2 and "norm" in bad.output
    bad = runner.invoke(app, ["analyze", "lipschitz", str(tmp_path / "nope")])
    assert bad.exit_code == 2
    bad = runner.invoke(app, ["analyze", "loss-vs-lambda", str(studies_run), "--lambdas", "x"])
    assert bad.exit_code == 2


def test_tsipras_marginals() -> None:
    x, y = tsipras(40_000, p=0.9, eta=0.3, d=20, seed=3)
    assert x.shape == (40_000, 21) and set(y.tolist()) == {-1, 1}
    assert float((x[:, 0] == y).float().mean()) == pytest.approx(0.9, abs=0.01)
    assert float((x[:, 1:] * y[:, None]).mean()) == pytest.approx(0.3, abs=0.01)
    assert float(x[:, 1:].std()) == pytest.approx(math.sqrt(1 + 0.09), abs=0.01)
    _, y01 = tsipras(10, labels="01")
    assert set(y01.tolist()) <= {0, 1}
    for kwargs in ({"p": 1.0}, {"p": 0.4}, {"d": 0}, {"eta": -1.0}, {"labels": "x"}):
        with pytest.raises(CertkitError):
            tsipras(5, **kwargs)


def test_linear_classifiers_respect_the_tradeoff_bound() -> None:
    # Theorem 3.1: robust accuracy at eps = 2 eta is at most p/(1-p) * delta for every
    # classifier; exact robust accuracy of sign(w.x) is P(y w.x - eps ||w||_1 > 0).
    p, d = 0.9, 100
    eta = 2 / math.sqrt(d)
    x, y = tsipras(50_000, p=p, d=d, seed=0)
    for a in (1.0, 0.3, 0.1, 0.03, 0.0):
        w = torch.cat([torch.tensor([a]), torch.full((d,), (1 - a) / d)]).double()
        m = y.double() * (x.double() @ w)
        nat = float((m > 0).double().mean())
        rob = float((m - 2 * eta * w.abs().sum() > 0).double().mean())
        assert rob <= tradeoff_bound(p, 1 - nat) + 0.01
    # g_avg is accurate but not robust; the robust-feature classifier is robust but capped at p
    w_avg = torch.cat([torch.zeros(1), torch.full((d,), 1.0 / d)]).double()
    m = y.double() * (x.double() @ w_avg)
    assert float((m > 0).double().mean()) > 0.95
    assert float((m - 2 * eta * w_avg.abs().sum() > 0).double().mean()) < 0.05
