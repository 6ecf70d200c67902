"""``certkit sweep`` and ``certkit analyze alpha-scaling`` end to end on a tiny digits run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certkit.cli.app import app


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from certkit.train import train

    root = tmp_path_factory.mktemp("sweep")
    out = []
    for name, epochs in (("a", 2), ("b", 4)):
        train(data="digits", model="mlp-2x50", method="standard", epochs=epochs,
              batch_size=64, lr=3e-3, seed=0, out=str(root / name), overwrite=True,
              progress=False, test_size=80)
        out.append(root / name)
    return out


def test_sweep_cli_writes_roc_files_and_overlay(runs: list[Path]) -> None:
    res = CliRunner().invoke(app, ["sweep", *map(str, runs), "--method", "ibp", "--points",
                                   "101", "--shifts", "blur,scaling", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for run in runs:
        rows = _csv(run / "analysis" / "roc-ibp.csv")
        assert len(rows) == 101 and float(rows[0]["eps"]) == 0.0
        ccr = [float(r["ccr"]) for r in rows]
        assert ccr == sorted(ccr, reverse=True)  # certification only shrinks with eps
        summary = json.loads((run / "analysis" / "roc-ibp.json").read_text())
        assert 0 <= summary["auc"] <= 1 and summary["calls_per_sample"] <= 7
        shifts = _csv(run / "analysis" / "shifts-ibp.csv")
        assert [r["shift"] for r in shifts] == ["unperturbed", "blur", "scaling"]
        assert (run / "analysis" / "roc-ibp.png").stat().st_size > 1000
    assert Path(out["compare_png"]).is_file() and Path(out["compare_shifts_csv"]).is_file()
    bad = CliRunner().invoke(app, ["sweep", str(runs[0]), "--shifts", "shear"])
    assert bad.exit_code == 2 and "unknown shift" in bad.output
    bad = CliRunner().invoke(app, ["sweep", str(runs[0]), "--eps-max", "-1"])
    assert bad.exit_code == 2


def test_alpha_scaling_radius_grows_with_alpha(runs: list[Path]) -> None:
    res = CliRunner().invoke(app, ["analyze", "alpha-scaling", str(runs[1]), "--alphas",
                                   "1,10,100,1000", "--n", "3", "--method", "ibp",
                                   "--points", "200", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    for i in range(3):
        eps = [r["eps"] for r in rows if r["sample"] == i]
        assert eps[-1] > eps[0] and eps[-1] > 0  # Theorem 4.1: far inputs certify
    assert (runs[1] / "analysis" / "alpha-scaling.png").is_file()
    bad = CliRunner().invoke(app, ["analyze", "alpha-scaling", str(runs[1]), "--alphas", "x"])
    assert bad.exit_code == 2
