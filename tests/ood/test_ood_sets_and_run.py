"""Synthetic OOD sets, and ``ood_run`` / ``certkit ood`` end to end on a tiny digits run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from certkit.analysis.ood import ood_set
from certkit.analysis.ood_run import ood_run
from certkit.cli.app import app
from certkit.errors import CertkitError


def test_synthetic_sets() -> None:
    ref = torch.rand(7, 1, 8, 8)
    for name in ("uniform-noise", "noise", "gaussian-noise", "permuted", "constant"):
        a, b = ood_set(name, ref, 12, seed=1), ood_set(name, ref, 12, seed=1)
        assert a.shape == (12, 1, 8, 8) and torch.equal(a, b)
        assert float(a.min()) >= 0 and float(a.max()) <= 1
    perm = ood_set("permuted", ref, 7)
    for i in range(7):  # same pixels, new order
        assert torch.equal(perm[i].flatten().sort().values, ref[i].flatten().sort().values)
        assert not torch.equal(perm[i], ref[i])
    const = ood_set("constant", ref, 5)
    assert bool((const.flatten(1).std(1) == 0).all())
    assert float(ood_set("uniform-noise", ref, 2000).mean()) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(CertkitError):
        ood_set("nosuch", ref)
    with pytest.raises(CertkitError):
        ood_set("mnist", ref)  # 28x28 images for an 8x8 model (or missing files)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from certkit.train import train

    out = tmp_path_factory.mktemp("ood") / "std"
    train(data="digits", model="mlp-2x50", method="standard", epochs=4, batch_size=64,
          lr=3e-3, seed=0, out=str(out), overwrite=True, progress=False, test_size=120)
    return out


def test_ood_run_writes_the_table(tiny_run: Path) -> None:
    res = ood_run(tiny_run, ood=("uniform-noise", "constant"), n=120, n_cert=40, points=101,
                  method="ibp")
    table = list(csv.DictReader(io.StringIO((tiny_run / "analysis" / "ood.csv").read_text())))
    assert [r["detector"] for r in table] == ["MSP", "ODIN", "Mahalanobis", "Energy",
                                             "Certificate"]
    assert set(table[0]) == {"detector", "uniform-noise AUROC", "uniform-noise FPR95",
                             "constant AUROC", "constant FPR95"}
    rows = json.loads((tiny_run / "analysis" / "ood.json").read_text())["rows"]
    assert len(rows) == 10 and all(0 <= r["auroc"] <= 1 for r in rows)
    # uniform noise on 8x8 digits is far from the data: Mahalanobis separates it well
    maha = next(r for r in rows if r["detector"] == "mahalanobis" and r["ood"] ==
                "uniform-noise")
    assert maha["auroc"] > 0.9
    assert (tiny_run / "analysis" / "ood.png").stat().st_size > 1000
    assert res["n_cert"] == 40 and next(r for r in rows if r["detector"] == "certificate")[
        "n_id"] == 40


def test_ood_cli(tiny_run: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["ood", str(tiny_run), "--ood", "noise", "--detectors",
                              "msp,energy", "--n", "50", "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["rows"]) == 2
    bad = runner.invoke(app, ["ood", str(tiny_run), "--detectors", "nosuch"])
    assert bad.exit_code == 2 and "unknown OOD detector" in bad.output
