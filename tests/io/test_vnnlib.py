"""The VNN-LIB parser: every shared property file, the subset's semantics, malformed files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from certkit.errors import CertkitError
from certkit.io import parse_vnnlib, parse_vnnlib_text
from certkit.io.sexpr import SyntaxErrorAt

HEAD = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n" \
       "(declare-const Y_1 Real)\n"
BOX = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 2))\n"


def test_every_shared_property_file_parses(benchmarks: Path) -> None:
    files = sorted(benchmarks.rglob("*.vnnlib"))
    assert len(files) >= 44
    for f in files:
        p = parse_vnnlib(f)
        assert p.regions, f
        for r in p.regions:
            assert r.lower.shape == r.upper.shape == (p.n_inputs,)
            assert bool((r.lower <= r.upper).all())
            assert r.disjuncts
            for oc in r.disjuncts:
                assert oc.C.shape[1] == p.n_outputs and oc.C.shape[0] == oc.d.shape[0]
        if f.parent.name == "acasxu":
            assert (p.n_inputs, p.n_outputs) == (5, 5)
        if f.parent.name == "mnist_fc":
            assert (p.n_inputs, p.n_outputs) == (784, 10)
            assert len(p.regions) == 1 and len(p.regions[0].disjuncts) == 9
            assert bool((p.regions[0].lower >= 0).all() and (p.regions[0].upper <= 1).all())


def test_acasxu_property_contents(benchmarks: Path) -> None:
    p3 = parse_vnnlib(benchmarks / "acasxu" / "prop_3.vnnlib")
    (r,) = p3.regions
    assert r.lower[0] == pytest.approx(-0.303531156) and r.upper[3] == 0.5
    (oc,) = r.disjuncts  # Y_0 <= Y_j for j = 1..4, a conjunction
    assert oc.C.tolist() == [[1, -1, 0, 0, 0], [1, 0, -1, 0, 0], [1, 0, 0, -1, 0],
                             [1, 0, 0, 0, -1]]
    assert oc.d.tolist() == [0, 0, 0, 0]
    p6 = parse_vnnlib(benchmarks / "acasxu" / "prop_6.vnnlib")  # or of two input boxes
    assert len(p6.regions) == 2 and all(len(r.disjuncts) == 4 for r in p6.regions)
    assert p6.regions[0].lower[1] == pytest.approx(0.11140846)
    assert p6.regions[1].upper[1] == pytest.approx(-0.11140846)


def test_vnncomp_test_mixes_inputs_and_outputs_in_one_disjunct(benchmarks: Path) -> None:
    p = parse_vnnlib(benchmarks / "vnncomp_test" / "test_tiny.vnnlib")
    (r,) = p.regions
    assert r.lower.tolist() == [-1] and r.upper.tolist() == [1]
    assert r.disjuncts[0].C.tolist() == [[-1.0]] and r.disjuncts[0].d.tolist() == [-100.0]


def test_dnf_of_and_or_and_arithmetic() -> None:
    text = HEAD + BOX + """
    (assert (or (and (<= Y_0 Y_1) (>= (+ Y_0 (* 2 Y_1)) 3.5)) (< (- Y_1 Y_0 1) 0)))
    (assert (or (<= Y_0 1e1) (= Y_1 -2)))"""
    p = parse_vnnlib_text(text)
    (r,) = p.regions
    assert len(r.disjuncts) == 4
    first = r.disjuncts[0]  # Y0 - Y1 <= 0, -(Y0 + 2 Y1) <= -3.5, Y0 <= 10
    assert first.C.tolist() == [[1, -1], [-1, -2], [1, 0]]
    assert first.d.tolist() == [0, -3.5, 10]
    last = r.disjuncts[3]  # Y1 - Y0 - 1 < 0 and Y1 = -2
    assert last.C.tolist() == [[-1, 1], [0, 1], [0, -1]]
    assert last.d.tolist() == [1, -2, 2]
    assert last.strict.tolist() == [True, False, False]
    assert p.violated_by(np.array([0.0, 1.0]), np.array([0.0, -2.0]))
    assert not p.violated_by(np.array([5.0, 1.0]), np.array([0.0, -2.0]))  # outside the box


def test_input_bounds_with_coefficients_and_disjoint_boxes() -> None:
    text = HEAD + """(assert (or
         (and (<= (* 2 X_0) 1) (>= X_0 0) (<= X_1 1) (>= (- X_1) -3) (>= X_1 0))
         (and (<= X_0 1) (>= X_0 2) (<= X_1 1) (>= X_1 0))))
       (assert (<= Y_0 0))"""
    p = parse_vnnlib_text(text)
    assert len(p.regions) == 1  # the second box is empty
    assert p.regions[0].upper.tolist() == [0.5, 1.0]
    assert p.regions[0].lower.tolist() == [0.0, 0.0]


def test_same_box_disjuncts_are_grouped_and_true_allowed() -> None:
    text = HEAD + BOX + "(assert (or (<= Y_0 0) (<= Y_1 0)))(check-sat)"
    p = parse_vnnlib_text(text)
    assert len(p.regions) == 1 and len(p.regions[0].disjuncts) == 2
    p = parse_vnnlib_text(HEAD + BOX + "(assert true)")
    assert p.regions[0].disjuncts[0].C.shape == (0, 2)


def test_gzipped_file(tmp_path: Path) -> None:
    f = tmp_path / "p.vnnlib.gz"
    f.write_bytes(gzip.compress((HEAD + BOX + "(assert (<= Y_0 0))").encode()))
    assert parse_vnnlib(f).n_inputs == 2


@pytest.mark.parametrize(
    ("body", "line", "col", "words"),
    [
        ("(assert (<= X_0 1)", 5, 1, "never closed"),
        ("(assert (<= X_0 1)))", 5, 20, "unexpected ')'"),
        ("(assert (<= X_0 foo))", 5, 17, "expected a number or a variable"),
        ("(assert (<= X_2 1))", 5, 13, "never declared"),
        ("(assert (<= (* X_0 X_1) 1))", 5, 13, "only products with constants"),
        ("(assert (<= (+ X_0 Y_0) 1))", 5, 9, "mixing inputs and outputs"),
        ("(assert (<= (+ X_0 X_1) 1))", 5, 9, "one-variable input constraints"),
        ("(assert (xor (<= Y_0 1) (<= Y_1 1)))", 5, 9, "unsupported operator 'xor'"),
        ("(assert (<= Y_0))", 5, 9, "needs two arguments"),
        ("(assert (<= Y_0 1) (<= Y_1 1))", 5, 1, "exactly one formula"),
        ("(declare-const Z_0 Real)", 5, 16, "must be named X_<i>"),
        ("(declare-const X_0 Int)", 5, 20, "must be Real"),
        ("(declare-const X_0 Real)", 5, 16, "declared twice"),
        ("(push 1)", 5, 1, "unsupported command 'push'"),
        ("stray", 5, 1, "expected a command"),
        ("(assert (<= Y_0 1.2.3))", 5, 17, "expected a number"),
    ],
)
def test_malformed_files_name_line_and_column(body: str, line: int, col: int,
                                              words: str) -> None:
    with pytest.raises(SyntaxErrorAt) as info:
        parse_vnnlib_text(HEAD + body + "\n" + BOX, "bad.vnnlib")
    msg = str(info.value)
    assert msg.startswith(f"bad.vnnlib:{line}:{col}: "), msg
    assert words in msg


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEAD + "(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= Y_0 0))", "X_1 has no lower"),
        ("(declare-const X_0 Real)(declare-const Y_1 Real)" + "(assert (<= Y_1 0))",
         "missing Y_0"),
        ("(declare-const Y_0 Real)(assert (<= Y_0 0))", "no X_ variables"),
    ],
)
def test_semantic_errors(text: str, words: str) -> None:
    with pytest.raises(CertkitError, match=words):
        parse_vnnlib_text(text, "p.vnnlib")


def test_binary_and_missing_files(tmp_path: Path) -> None:
    f = tmp_path / "bin.vnnlib"
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CertkitError, match="UTF-8"):
        parse_vnnlib(f)
    with pytest.raises(FileNotFoundError):
        parse_vnnlib(tmp_path / "missing.vnnlib")
