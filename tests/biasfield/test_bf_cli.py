"""``certkit certify/attack --spec biasfield`` end to end on a small digits run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certkit.analysis.adversarial import attack_run
from certkit.cli.app import app
from certkit.errors import CertkitError
from certkit.verify.run import certify_run, make_spec, spec_label

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bf") / "run"
    res = runner.invoke(app, ["train", "--data", "digits", "--model", "cnn1", "--epochs", "2",
                              "--train-size", "600", "--out", str(out), "--json"])
    _json(res)
    return out


def test_certify_run_biasfield_writes_rows_and_summary(run_dir: Path) -> None:
    s = certify_run(run_dir, method="rsip-ssip", eps=0.05, spec="biasfield", order=3, n=40)
    assert s["spec"] == "biasfield" and s["order"] == 3 and s["field"] == "multiplicative"
    rows = [json.loads(r) for r in Path(s["results"]).read_text().splitlines()]
    assert len(rows) == 40 and all(r["spec"] == "biasfield" and r["order"] == 3 for r in rows)
    assert Path(s["results"]).name == "certify-rsip-ssip-biasfield3-eps0.05.jsonl"
    # a larger field certifies no more samples; every certified one is correct
    big = certify_run(run_dir, method="rsip-ssip", eps=0.3, spec="biasfield", n=40)
    certified = sum(r["certified"] for r in rows)
    big_rows = [json.loads(r) for r in Path(big["results"]).read_text().splitlines()]
    assert sum(r["certified"] for r in big_rows) <= certified
    assert all(r["correct"] for r in rows if r["certified"])


def test_attack_never_beats_a_certificate(run_dir: Path) -> None:
    cert = certify_run(run_dir, method="rsip-ssip", eps=0.2, spec="biasfield", n=60)
    atk = attack_run(run_dir, spec="biasfield", eps=0.2, n=60, steps=10, restarts=2)
    rows = [json.loads(r) for r in Path(cert["results"]).read_text().splitlines()]
    certified = sum(r["certified"] for r in rows) / 60
    assert atk["spec"] == "biasfield3" and atk["norm"] == "coefficients"
    assert certified <= atk["robust_accuracy"] + 1e-12 <= atk["clean_accuracy"] + 1e-12


def test_cli_certify_and_attack_with_figure(run_dir: Path, tmp_path: Path) -> None:
    s = _json(runner.invoke(app, ["certify", str(run_dir), "--spec", "biasfield", "--order",
                                  "3", "--eps", "0.1", "--method", "rsip-ssip", "--n", "20",
                                  "--json"]))
    assert s["n"] == 20 and s["method"] == "rsip-ssip"
    png = tmp_path / "fields.png"
    a = _json(runner.invoke(app, ["attack", str(run_dir), "--spec", "biasfield", "--eps", "0.4",
                                  "--n", "12", "--steps", "5", "--restarts", "1", "--grid",
                                  str(png), "--json"]))
    assert a["grid"] == str(png) and "params" not in a
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    b = _json(runner.invoke(app, ["attack", str(run_dir), "--spec", "brightness", "--eps",
                                  "0.1", "--n", "12", "--steps", "5", "--json"]))
    assert b["spec"] == "brightness"


def test_bad_spec_options_are_one_line_errors(run_dir: Path) -> None:
    for args in (["certify", str(run_dir), "--spec", "rotation", "--eps", "0.1"],
                 ["certify", str(run_dir), "--spec", "biasfield", "--order", "-1", "--eps",
                  "0.1"],
                 ["certify", str(run_dir), "--spec", "biasfield", "--field", "radial", "--eps",
                  "0.1"],
                 ["attack", str(run_dir), "--spec", "biasfield", "--eps", "-0.1"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(CertkitError, match="unknown spec"):
        make_spec("rotation", None, 0.1)  # type: ignore[arg-type]
    assert spec_label("biasfield", 2, "both") == "biasfield2-both"


def test_rsip_ssip_margins_dominate_rsip_ibp_on_a_trained_net(run_dir: Path,
                                                              tmp_path: Path) -> None:
    margins = {}
    for method in ("crown-ibp", "rsip-ssip"):
        s = certify_run(run_dir, method=method, eps=0.2, spec="biasfield", n=40,
                        out=tmp_path / f"{method}.jsonl")
        margins[method] = [json.loads(r)["margin_lower"]
                           for r in Path(s["results"]).read_text().splitlines()]
    assert all(s >= i - 1e-9 for s, i in zip(margins["rsip-ssip"], margins["crown-ibp"],
                                              strict=True))
