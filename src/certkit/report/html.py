"""``certkit report``: one self-contained HTML page for one or more run directories.

Everything is inline: PNG figures as base64 ``data:`` URIs, CSS in a ``<style>`` block, no
scripts, no links to the network or to files outside the page. Per run it shows the model
metadata, the training curves (``metrics.jsonl``, drawn here), the summaries of every
evaluation / attack / certification / sweep (``results.jsonl``), the per-sample certify
files, and *every* ``*.png`` / ``*.csv`` / ``*.json`` in ``<run>/analysis/``, whichever
analysis wrote them.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CertkitError
from ..runs import read_jsonl, write_bytes_atomic
from .figures import ANALYSIS_DIR, new_figure

MAX_TABLE_ROWS = 40

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#1d2330;background:#fff;max-width:1400px}
h1{font-size:24px}h2{font-size:20px;border-bottom:2px solid #3b6ea8;padding-bottom:4px;
margin-top:36px}h3{font-size:16px;margin-top:22px;color:#3b6ea8}
.wide{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #c8cfd8;padding:3px 7px;text-align:right}
th{background:#eef2f7}td.k,th.k{text-align:left}
img{max-width:100%;border:1px solid #dde;margin:6px 0}
.note{color:#667;font-size:12px}nav a{margin-right:12px}
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, dict | list):
        text = json.dumps(v, sort_keys=True)
        return text if len(text) <= 120 else text[:117] + "..."
    return "" if v is None else str(v)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
          limit: int = MAX_TABLE_ROWS) -> str:
    """An HTML table of dict rows (all values escaped); long tables are thinned evenly."""
    if not rows:
        return '<p class="note">(empty)</p>'
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    shown = list(rows)
    note = ""
    if len(shown) > limit:
        step = (len(shown) - 1) / (limit - 1)
        shown = [shown[round(i * step)] for i in range(limit)]
        note = f'<p class="note">{len(rows)} rows; {limit} evenly spaced rows shown.</p>'
    head = "".join(f'<th class="k">{_esc(c)}</th>' if i == 0 else f"<th>{_esc(c)}</th>"
                   for i, c in enumerate(cols))
    body = "".join("<tr>" + "".join(
        (f'<td class="k">{_esc(_fmt(r.get(c)))}</td>' if i == 0
         else f"<td>{_esc(_fmt(r.get(c)))}</td>") for i, c in enumerate(cols)) + "</tr>"
        for r in shown)
    return f'<div class="wide"><table><tr>{head}</tr>{body}</table></div>{note}'


def image(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inline as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _flatten(obj: Any, prefix: str = "") -> list[dict[str, Any]]:
    if isinstance(obj, Mapping):
        out: list[dict[str, Any]] = []
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, Mapping):
                out.extend(_flatten(v, key))
            else:
                out.append({"key": key, "value": v})
        return out
    return [{"key": prefix or "value", "value": obj}]


def _json_section(path: Path) -> str:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        return f'<p class="note">unreadable JSON ({_esc(err)})</p>'
    if isinstance(obj, list) and obj and all(isinstance(r, Mapping) for r in obj):
        return table(obj)
    parts = []
    if isinstance(obj, Mapping):
        lists = {k: v for k, v in obj.items()
                 if isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v)}
        parts.append(table(_flatten({k: v for k, v in obj.items() if k not in lists}),
                           ["key", "value"], limit=200))
        for k, v in lists.items():
            parts.append(f"<p><b>{_esc(k)}</b></p>" + table(v))
    else:
        parts.append(table(_flatten(obj), ["key", "value"]))
    return "".join(parts)


def training_curves(metrics: list[dict[str, Any]]) -> bytes | None:
    """PNG of loss and accuracy per epoch from ``metrics.jsonl`` rows (None if no rows)."""
    rows = [r for r in metrics if isinstance(r.get("epoch"), int | float)]
    if not rows:
        return None
    import io

    fig = new_figure(10, 3.6)
    a, b = fig.subplots(1, 2)
    ep = [r["epoch"] for r in rows]
    for key in sorted({k for r in rows for k in r if k.endswith("loss")}):
        a.plot(ep, [r.get(key, math.nan) for r in rows], marker=".", label=key)
    for key in sorted({k for r in rows for k in r if k.endswith("acc") or k == "eps"}):
        b.plot(ep, [r.get(key, math.nan) for r in rows], marker=".", label=key)
    a.set(xlabel="epoch", title="losses")
    b.set(xlabel="epoch", title="accuracies and eps")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


RESULT_COLUMNS = ["command", "method", "attack", "spec", "eps", "n", "accuracy",
                  "clean_accuracy", "robust_accuracy", "certified_accuracy",
                  "certified_incorrect_rate", "auc", "eps_at_target_cir", "seconds_per_sample",
                  "seconds"]


def run_section(run_dir: Path, anchor: str) -> str:
    """The HTML section of one run directory."""
    parts = [f'<h2 id="{_esc(anchor)}">{_esc(run_dir.name or run_dir)}</h2>',
             f'<p class="note">{_esc(run_dir.resolve())}</p>']
    meta_path = run_dir / "model.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            keep = {k: meta.get(k) for k in ("architecture", "dataset", "method", "eps",
                                             "input_shape", "num_classes", "certkit_version")
                    if k in meta}
            parts.append("<h3>Model</h3>" + table(_flatten(keep), ["key", "value"]))
        except (json.JSONDecodeError, UnicodeDecodeError):
            parts.append('<p class="note">model.json is unreadable</p>')
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    if metrics:
        parts.append("<h3>Training</h3>")
        png = training_curves(metrics)
        if png:
            parts.append(image(png, "training curves"))
        last = metrics[-1]
        parts.append(table([last], [k for k in last if not isinstance(last[k], dict | list)]))
    results = read_jsonl(run_dir / "results.jsonl")
    if results:
        cols = [c for c in RESULT_COLUMNS if any(c in r for r in results)]
        parts.append("<h3>Accuracy, robustness and certification</h3>" + table(results, cols))
    certs = sorted(run_dir.glob("certify-*.jsonl"))
    if certs:
        rows = []
        for p in certs:
            rs = read_jsonl(p)
            n = len(rs)
            rows.append({"file": p.name, "n": n,
                         "certified": sum(bool(r.get("certified")) for r in rs) / n if n else 0.0,
                         "robust": sum(bool(r.get("robust")) for r in rs) / n if n else 0.0})
        parts.append("<h3>Per-sample certification files</h3>" + table(rows))
    folder = run_dir / ANALYSIS_DIR
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file()
                       and p.suffix in (".png", ".csv", ".json") and not p.name.startswith("."))
        stems = list(dict.fromkeys(p.stem for p in files))
        if stems:
            parts.append("<h3>Analyses</h3>")
        for stem in stems:
            parts.append(f"<h4>{_esc(stem)}</h4>")
            for suffix in (".png", ".csv", ".json"):
                p = folder / f"{stem}{suffix}"
                if p not in files:
                    continue
                if suffix == ".png":
                    parts.append(image(p.read_bytes(), stem))
                elif suffix == ".csv":
                    try:
                        parts.append(table(_read_csv(p)))
                    except (csv.Error, UnicodeDecodeError) as err:
                        parts.append(f'<p class="note">unreadable CSV ({_esc(err)})</p>')
                else:
                    parts.append(_json_section(p))
    return "\n".join(parts)


def build_report(runs: str | Path | Sequence[str | Path], out: str | Path | None = None,
                 title: str = "certkit report") -> Path:
    """Write the HTML report of ``runs`` to ``out`` (default ``<first run>/report.html``)."""
    paths = [Path(runs)] if isinstance(runs, str | Path) else [Path(r) for r in runs]
    if not paths:
        raise CertkitError("report needs at least one run directory")
    for p in paths:
        if not p.is_dir():
            raise CertkitError(f"run directory not found: {p}")
    anchors = [f"run{i}" for i in range(len(paths))]
    nav = "".join(f'<a href="#{a}">{_esc(p.name or p)}</a>' for a, p in zip(anchors, paths,
                                                                           strict=True))
    body = "\n".join(run_section(p, a) for p, a in zip(paths, anchors, strict=True))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_esc(title)}</h1><nav>{nav}</nav>\n{body}\n</body></html>\n")
    target = Path(out) if out is not None else paths[0] / "report.html"
    write_bytes_atomic(target, page.encode("utf-8"))
    return target
