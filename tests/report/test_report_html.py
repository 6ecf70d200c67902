"""The HTML report: self-contained, collects every analysis file, escapes, and renders."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certkit.cli.app import app
from certkit.report import analysis_path, build_report, new_figure, save_figure, write_csv


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "data", "action", "srcset", "poster") and v is not None:
                self.refs.append((tag, k, v))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from certkit.analysis.sweep import sweep
    from certkit.train import train
    from certkit.verify import certify_run

    out = tmp_path_factory.mktemp("report") / "std"
    train(data="digits", model="mlp-2x50", method="standard", epochs=3, batch_size=64,
          lr=3e-3, seed=0, out=str(out), overwrite=True, progress=False, test_size=100)
    certify_run(out, method="ibp", eps=0.01)
    sweep(out, method="ibp", points=51)
    # what another analysis would leave there, including text that needs escaping
    write_csv(analysis_path(out, "separation", ".csv"),
              [{"class": "<script>alert(1)</script>", "r": 0.5}])
    fig = new_figure()
    fig.subplots().plot([0, 1], [1, 0])
    save_figure(fig, analysis_path(out, "separation", ".png"))
    (out / "analysis" / "lipschitz.json").write_text(json.dumps({"mean": 3.5, "n": 4}))
    return out


def test_report_is_self_contained_and_collects_everything(run_dir: Path) -> None:
    path = build_report(run_dir)
    assert path == run_dir / "report.html"
    text = path.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags
    imgs = [v for t, k, v in parser.refs if t == "img"]
    # training curves + roc-ibp.png + separation.png, each inline
    assert len(imgs) == 3 and all(v.startswith("data:image/png;base64,") for v in imgs)
    for t, k, v in parser.refs:  # nothing outside the page: only data URIs and anchors
        assert v.startswith(("data:", "#")), (t, k, v)
    png = (run_dir / "analysis" / "separation.png").read_bytes()
    assert any(base64.b64decode(v.split(",", 1)[1]) == png for v in imgs)
    for stem in ("roc-ibp", "separation", "lipschitz"):
        assert f"<h4>{stem}</h4>" in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "certify-ibp-linf-eps0.01.jsonl" in text  # per-sample certify files
    assert "certified_accuracy" in text and "sweep" in text  # results.jsonl table


def test_report_cli_and_errors(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(run_dir), str(run_dir), "--out", str(out),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["report"] == str(out)
    assert out.read_text().count('<h2 id="run') == 2
    bad = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed")
    page = build_report(run_dir, tmp_path / "page.html")
    shot = tmp_path / "shot.png"
    try:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1200,1600",
                        f"--screenshot={shot}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"chromium could not run here: {err}")
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] == 1600 and img.shape[1] == 1200
    # the page drew something: many distinct colours, not a blank or error page
    assert len({tuple(p) for p in img[::16, ::16, :3].reshape(-1, 3).round(2).tolist()}) > 20
