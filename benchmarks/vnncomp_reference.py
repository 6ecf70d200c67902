"""The reference column of ``vnncomp.py``: published VNN-COMP verdicts on our instance files,
and onnxruntime's check of another tool's counterexample.

alpha-beta-CROWN's per-instance verdicts come from ``benchmarks/reference/`` (see its
README): the 2021 table for mnist_fc (our mnist_fc specs are the 2021 ones; 2022 regenerated
them under the same names, so only its counts are printed beside ours) and the 2022 tables
for ACAS Xu and oval21 (the same files as ours).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from certkit.io.onnx import load_onnx
from certkit.io.vnnlib import parse_vnnlib
from certkit.verify.complete.counterexample import Checker

REFERENCE = Path(__file__).resolve().parent / "reference"

# benchmark -> (label, per-instance file, verdict column, published counts file or None)
SOURCES = {
    "mnist_fc": ("a-b-CROWN 2021", "vnncomp2021_mnistfc.csv", "a-b-CROWN_verdict",
                 "vnncomp2022_mnist_fc_counts.csv"),
    "acasxu": ("a-b-CROWN 2022", "vnncomp2022_acasxu.csv", "alpha_beta_crown_verdict", None),
    "oval21": ("a-b-CROWN 2022", "vnncomp2022_oval21.csv", "alpha_beta_crown_verdict", None),
}


def file_key(onnx: str, vnnlib: str) -> tuple[str, str]:
    """The (onnx, vnnlib) file names that identify an instance across years and layouts."""
    return Path(onnx).name, Path(vnnlib).name


def reference_verdicts(benchmark: str) -> tuple[str, dict[tuple[str, str], str]]:
    """The reference tool's label and its verdict per (onnx, vnnlib) file name ({} if none)."""
    if benchmark not in SOURCES:
        return "", {}
    label, name, column, _ = SOURCES[benchmark]
    with (REFERENCE / name).open() as f:
        return label, {file_key(r["onnx"], r["vnnlib"]): r[column]
                       for r in csv.DictReader(f)}


def published_counts(benchmark: str) -> str | None:
    """alpha-beta-CROWN's published VNN-COMP 2022 counts as one line, where only counts apply."""
    src = SOURCES.get(benchmark)
    if src is None or src[3] is None:
        return None
    with (REFERENCE / src[3]).open() as f:
        for r in csv.DictReader(f):
            if r["tool"] == "alpha_beta_crown":
                return (f"VNN-COMP 2022 alpha-beta-CROWN (GPU, regenerated specs, all "
                        f"{r['rows']}): {r['sat']} sat / {r['unsat']} unsat / "
                        f"{r['timeout']} timeout")
    return None


def confirm_counterexample(onnx: Path, vnnlib: Path, x: np.ndarray) -> bool:
    """Whether ``x`` is a counterexample of the property that onnxruntime confirms (the test
    certkit's own sat verdicts pass)."""
    prop = parse_vnnlib(vnnlib)
    if not prop.regions:
        return False
    net = load_onnx(onnx, box=(prop.regions[0].lower, prop.regions[0].upper))
    checker = Checker(net, prop)
    return any(checker.check(x, region, limit=1) is not None for region in prop.regions)
