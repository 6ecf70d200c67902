"""``certkit certify --method smoothing`` goes through ``smoothing_run``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from certkit.cli.app import app


def test_certify_cli_smoothing(smoothing_run_dir: Path) -> None:
    res = CliRunner().invoke(app, ["certify", str(smoothing_run_dir), "--method", "smoothing",
                                   "--sigma", "0.25", "--n0", "20", "--n-samples", "200",
                                   "--n", "15", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["abstain_rate"] + summary["smoothed_accuracy"] <= 1.0 + 1e-9
    # a certified radius never exceeds the cap sigma * Phi^-1(alpha^(1/n)) at n = 200
    from scipy.stats import norm

    cap = 0.25 * norm.ppf(0.001 ** (1 / 200))
    assert abs(summary["max_radius"] - cap) < 1e-9
    rows = [json.loads(line) for line in Path(summary["results"]).read_text().splitlines()]
    assert len(rows) == 15 and all(0.0 <= r["radius"] <= cap + 1e-9 for r in rows)
    assert all(r["radius"] == 0.0 for r in rows if r["prediction"] == -1)  # abstains
    assert 0.0 <= summary["certified_accuracy@0.25"] <= summary["smoothed_accuracy"]


def test_certify_cli_smoothing_needs_sigma_and_bounds_need_eps(smoothing_run_dir: Path) -> None:
    r = CliRunner().invoke(app, ["certify", str(smoothing_run_dir), "--method", "smoothing"])
    assert r.exit_code == 2 and "--sigma" in r.output
    r = CliRunner().invoke(app, ["certify", str(smoothing_run_dir), "--method", "crown"])
    assert r.exit_code == 2 and "--eps" in r.output
