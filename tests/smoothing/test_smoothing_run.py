"""``smoothing_run`` on a digits run: files, summary consistent with the per-sample rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from certkit.errors import CertkitError
from certkit.runs import read_jsonl
from certkit.verify.smoothing import ABSTAIN
from certkit.verify.smoothing_run import smoothing_run


def test_smoothing_run_writes_curve_and_consistent_summary(smoothing_run_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    s = smoothing_run(smoothing_run_dir, sigma=0.25, n0=20, n=400, alpha=0.01, num=40,
                      batch_size=200)
    rows = [json.loads(line) for line in Path(s["results"]).read_text().splitlines()]
    assert len(rows) == 40 == s["num"]
    abstain = sum(r["prediction"] == ABSTAIN for r in rows) / 40
    assert s["abstain_rate"] == pytest.approx(abstain)
    correct = [r for r in rows if r["prediction"] == r["label"]]
    assert s["smoothed_accuracy"] == pytest.approx(len(correct) / 40)
    assert s["certified_accuracy@0.5"] == pytest.approx(
        sum(r["radius"] >= 0.5 for r in correct) / 40)
    assert s["smoothed_accuracy"] > 0.7  # the noise-trained MLP is accurate under noise
    for r in rows:
        assert 0.0 <= r["radius"] <= s["max_radius"] + 1e-12
        assert (r["radius"] == 0.0) == (r["prediction"] == ABSTAIN)
    with open(s["csv"]) as fh:
        curve = [(float(r["radius"]), float(r["certified_accuracy"])) for r in csv.DictReader(fh)]
    accs = [a for _, a in curve]
    assert accs[0] == pytest.approx(s["smoothed_accuracy"])
    assert all(b <= a + 1e-12 for a, b in zip(accs, accs[1:], strict=False))
    assert Path(s["png"]).stat().st_size > 1000
    assert read_jsonl(smoothing_run_dir / "results.jsonl")[-1]["method"] == "smoothing"
    # the same seed gives the same certificates
    again = smoothing_run(smoothing_run_dir, sigma=0.25, n0=20, n=400, alpha=0.01, num=40,
                          batch_size=200, out=smoothing_run_dir / "again.jsonl")
    assert again["results"] == str(smoothing_run_dir / "again.jsonl")
    assert [(r["prediction"], r["count"]) for r in read_jsonl(Path(again["results"]))] == \
        [(r["prediction"], r["count"]) for r in rows]


def test_smoothing_run_rejects_bad_arguments(smoothing_run_dir: Path) -> None:
    with pytest.raises(CertkitError):
        smoothing_run(smoothing_run_dir, sigma=-1.0, num=2, n=10, n0=5)
    with pytest.raises(CertkitError):
        smoothing_run(smoothing_run_dir, sigma=0.25, num=0, n=10, n0=5)
    with pytest.raises(CertkitError):
        smoothing_run(smoothing_run_dir, sigma=0.25, num=2, n=10, n0=5, alpha=2.0)
    with pytest.raises(CertkitError):
        smoothing_run(smoothing_run_dir / "missing", sigma=0.25, num=2, n=10, n0=5)
