"""VNN-LIB properties (the VNN-COMP subset of SMT-LIB) -> input boxes and output constraints.

A VNN-LIB file describes the *unsafe* set: it is ``sat`` when some input satisfies every
assertion. Supported: ``declare-const X_i Real`` / ``Y_j Real`` (also ``declare-fun``),
``assert`` of ``and`` / ``or`` formulas over linear (in)equalities ``<= >= < > =`` of terms
built from numbers, variables, ``+``, ``-`` and ``*`` by a constant. The assertions are
brought into disjunctive normal form; every disjunct must bound each input from both sides
with one-variable constraints (a box) and may constrain the outputs with any linear
inequalities. Disjuncts with the same box are grouped into one :class:`Region`.

Strict inequalities are read as non-strict (the closure of the unsafe set): a proof for the
closure is a proof for the set, and counterexamples are checked against the strict form
(:meth:`OutputConstraint.holds`). Every error names the file, line and column.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from ..errors import CertkitError
from .sexpr import Atom, Pos, SExpr, SList, SyntaxErrorAt, read_all

MAX_DISJUNCTS = 100_000
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_VAR = re.compile(r"^([XY])_(\d+)$")
_IGNORED = {"check-sat", "get-model", "set-logic", "set-info", "set-option", "exit"}
_RELATIONS = {"<=", ">=", "<", ">", "="}


@dataclass(frozen=True)
class OutputConstraint:
    """A conjunction ``C y <= d`` of linear output constraints (``strict`` rows: ``<``)."""

    C: np.ndarray  # (m, n_outputs) float64
    d: np.ndarray  # (m,)
    strict: np.ndarray  # (m,) bool

    def holds(self, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether output ``y`` (n_outputs,) satisfies every row (within ``tol``)."""
        lhs = self.C @ np.asarray(y, dtype=np.float64).reshape(-1)
        ok = np.where(self.strict, lhs < self.d + tol, lhs <= self.d + tol)
        return bool(ok.all())


@dataclass(frozen=True)
class Region:
    """An input box and the disjunction of output constraints that make it unsafe."""

    lower: np.ndarray  # (n_inputs,) float64
    upper: np.ndarray
    disjuncts: tuple[OutputConstraint, ...]

    def contains(self, x: np.ndarray) -> bool:
        """Whether ``x`` (flat) lies in the box."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return bool(((x >= self.lower) & (x <= self.upper)).all())


@dataclass(frozen=True)
class VnnProperty:
    """A parsed VNN-LIB file: ``sat`` iff some region holds an unsafe input."""

    n_inputs: int
    n_outputs: int
    regions: tuple[Region, ...]
    source: str = "<string>"

    def violated_by(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether ``(x, y)`` is a counterexample: ``x`` in a region, ``y`` unsafe there."""
        return any(r.contains(x) and any(c.holds(y, tol) for c in r.disjuncts)
                   for r in self.regions)


# A linear term: ({("X", i) or ("Y", j): coefficient}, constant)
Lin = tuple[dict[tuple[str, int], float], float]
# An atom of the DNF: (term, strict, offset) meaning ``term <= 0`` (``< 0`` if strict)
Ineq = tuple[Lin, bool, int]


class _Parser:
    def __init__(self, source: str, text: str) -> None:
        self.source, self.text = source, text
        self.declared: dict[str, tuple[str, int]] = {}

    def err(self, at: int, msg: str) -> SyntaxErrorAt:
        return SyntaxErrorAt(self.source, Pos.of(self.text, at), msg)

    def head(self, e: SList) -> str:
        if not e.items or not isinstance(e.items[0], Atom):
            raise self.err(e.at, "expected an operator after '('")
        return e.items[0].text

    def declare(self, e: SList) -> None:
        kind = self.head(e)
        want = 3 if kind == "declare-const" else 4
        if len(e.items) != want or not all(isinstance(i, Atom) for i in e.items):
            raise self.err(e.at, f"malformed {kind}; expected ({kind} X_0 Real)")
        name_atom, sort = e.items[1], e.items[-1]
        assert isinstance(name_atom, Atom) and isinstance(sort, Atom)
        if kind == "declare-fun" and (not isinstance(e.items[2], SList) or e.items[2].items):
            raise self.err(e.at, "declare-fun must declare a constant: (declare-fun X_0 () Real)")
        if sort.text != "Real":
            raise self.err(sort.at, f"variables must be Real, got {sort.text!r}")
        m = _VAR.match(name_atom.text)
        if m is None:
            raise self.err(name_atom.at, f"variable {name_atom.text!r} must be named X_<i> "
                           "(input) or Y_<j> (output)")
        if name_atom.text in self.declared:
            raise self.err(name_atom.at, f"{name_atom.text} is declared twice")
        self.declared[name_atom.text] = (m.group(1), int(m.group(2)))

    def term(self, e: SExpr) -> Lin:
        if isinstance(e, Atom):
            if _NUMBER.match(e.text):
                return {}, float(e.text)
            if e.text in self.declared:
                return {self.declared[e.text]: 1.0}, 0.0
            if _VAR.match(e.text):
                raise self.err(e.at, f"{e.text} is used but never declared")
            raise self.err(e.at, f"expected a number or a variable, got {e.text!r}")
        op = self.head(e)
        args = [self.term(a) for a in e.items[1:]]
        if not args:
            raise self.err(e.at, f"'{op}' needs arguments")
        if op == "+":
            return _sum(args, [1.0] * len(args))
        if op == "-":
            return _scale(args[0], -1.0) if len(args) == 1 else _sum(args, [1.0] + [-1.0] * (
                len(args) - 1))
        if op == "*":
            out: Lin = ({}, 1.0)
            for a in args:
                if out[0] and a[0]:
                    raise self.err(e.at, "only products with constants are linear")
                out = _scale(a, out[1]) if not out[0] else _scale(out, a[1])
            return out
        if op == "/" and len(args) == 2 and not args[1][0] and args[1][1] != 0:
            return _scale(args[0], 1.0 / args[1][1])
        raise self.err(e.at, f"unsupported term operator {op!r} (supported: + - * /)")

    def dnf(self, e: SExpr) -> list[list[Ineq]]:
        if isinstance(e, Atom):
            if e.text == "true":
                return [[]]
            if e.text == "false":
                return []
            raise self.err(e.at, f"expected a formula, got {e.text!r}")
        op = self.head(e)
        if op == "and":
            out: list[list[Ineq]] = [[]]
            for child in e.items[1:]:
                parts = self.dnf(child)
                if len(out) * len(parts) > MAX_DISJUNCTS:
                    raise self.err(e.at, f"more than {MAX_DISJUNCTS} disjuncts")
                out = [a + b for a, b in product(out, parts)]
            return out
        if op == "or":
            return [d for child in e.items[1:] for d in self.dnf(child)]
        if op in _RELATIONS:
            return [self.relation(e, op)]
        raise self.err(e.at, f"unsupported operator {op!r} (supported: and, or, <=, >=, <, >, =)")

    def relation(self, e: SList, op: str) -> list[Ineq]:
        if len(e.items) < 3:
            raise self.err(e.at, f"'{op}' needs two arguments")
        terms = [self.term(a) for a in e.items[1:]]
        out: list[Ineq] = []
        for a, b in zip(terms, terms[1:], strict=False):
            diff = _sum([a, b], [1.0, -1.0])  # a - b
            if op in ("<=", "<", "="):
                out.append((diff, op == "<", e.at))
            if op in (">=", ">", "="):
                out.append((_scale(diff, -1.0), op == ">", e.at))
        return out


def _sum(terms: list[Lin], weights: list[float]) -> Lin:
    coef: dict[tuple[str, int], float] = {}
    const = 0.0
    for (c, k), w in zip(terms, weights, strict=True):
        for v, a in c.items():
            coef[v] = coef.get(v, 0.0) + w * a
        const += w * k
    return {v: a for v, a in coef.items() if a != 0.0}, const


def _scale(t: Lin, s: float) -> Lin:
    return {v: a * s for v, a in t[0].items() if a * s != 0.0}, t[1] * s


def _sizes(p: _Parser) -> tuple[int, int]:
    counts = []
    for kind in ("X", "Y"):
        idx = sorted(i for k, i in p.declared.values() if k == kind)
        if not idx:
            raise CertkitError(f"{p.source}: no {kind}_ variables are declared")
        if idx != list(range(len(idx))):
            missing = sorted(set(range(idx[-1] + 1)) - set(idx))
            raise CertkitError(f"{p.source}: {kind}_ variables must be numbered 0..n-1; "
                               f"missing {kind}_{missing[0]}")
        counts.append(len(idx))
    return counts[0], counts[1]


@dataclass
class _Conj:
    """A conjunction being collected: the box and the output rows."""

    lo: np.ndarray
    hi: np.ndarray
    rows: list[np.ndarray]
    rhs: list[float]
    strict: list[bool]
    empty: bool = False

    def copy(self) -> _Conj:
        return _Conj(self.lo.copy(), self.hi.copy(), list(self.rows), list(self.rhs),
                     list(self.strict), self.empty)


def _absorb(p: _Parser, conj: _Conj, atoms: list[Ineq], n_out: int) -> None:
    """Add ``atoms`` to ``conj``: one-variable input atoms shrink the box, output atoms
    become rows, constant atoms may make the conjunction empty."""
    for (coef, const), is_strict, at in atoms:
        kinds = {k for k, _ in coef}
        if not coef:
            if const > 0 or (is_strict and const == 0):
                conj.empty = True
        elif kinds == {"Y"}:
            row = np.zeros(n_out)
            for (_, j), a in coef.items():
                row[j] = a
            conj.rows.append(row)
            conj.rhs.append(-const)
            conj.strict.append(is_strict)
        elif "Y" in kinds:
            raise p.err(at, "constraints mixing inputs and outputs are not supported")
        elif len(coef) > 1:
            raise p.err(at, "only one-variable input constraints (boxes) are supported")
        else:
            ((_, i), a), = coef.items()
            bound = -const / a + 0.0  # no negative zeros
            if a > 0:
                conj.hi[i] = min(conj.hi[i], bound)
            else:
                conj.lo[i] = max(conj.lo[i], bound)


def _finish(p: _Parser, conj: _Conj, n_out: int) -> OutputConstraint | None:
    """The output rows of a complete conjunction; None when it is empty."""
    lo, hi = conj.lo, conj.hi
    for i in range(lo.shape[0]):
        if not (np.isfinite(lo[i]) and np.isfinite(hi[i])):
            side = "lower" if not np.isfinite(lo[i]) else "upper"
            raise CertkitError(f"{p.source}: X_{i} has no {side} bound; inputs must lie in a box")
    if conj.empty or bool((lo > hi).any()):
        return None
    c = np.array(conj.rows, dtype=np.float64).reshape(len(conj.rows), n_out)
    return OutputConstraint(c, np.array(conj.rhs, dtype=np.float64),
                            np.array(conj.strict, dtype=bool))


def parse_vnnlib_text(text: str, source: str = "<string>") -> VnnProperty:
    """Parse the text of a VNN-LIB file (``source`` names it in error messages)."""
    p = _Parser(source, text)
    asserts: list[SExpr] = []
    for e in read_all(text, source):
        if not isinstance(e, SList):
            raise p.err(e.at, f"expected a command in parentheses, got {e.text!r}")
        cmd = p.head(e)
        if cmd in ("declare-const", "declare-fun"):
            p.declare(e)
        elif cmd == "assert":
            if len(e.items) != 2:
                raise p.err(e.at, "assert takes exactly one formula")
            asserts.append(e.items[1])
        elif cmd not in _IGNORED:
            raise p.err(e.at, f"unsupported command {cmd!r}")
    n_in, n_out = _sizes(p)
    base = _Conj(np.full(n_in, -np.inf), np.full(n_in, np.inf), [], [], [])
    dnf: list[list[Ineq]] = [[]]  # the choices of the asserts that are disjunctions
    for a in asserts:
        parts = p.dnf(a)
        if len(parts) == 1:  # a conjunction: shared by every disjunct
            _absorb(p, base, parts[0], n_out)
            continue
        if len(dnf) * len(parts) > MAX_DISJUNCTS:
            raise p.err(a.at, f"more than {MAX_DISJUNCTS} disjuncts")
        dnf = [x + y for x, y in product(dnf, parts)]
    grouped: dict[bytes, tuple[np.ndarray, np.ndarray, list[OutputConstraint]]] = {}
    for atoms in dnf:
        conj = base.copy()
        _absorb(p, conj, atoms, n_out)
        oc = _finish(p, conj, n_out)
        if oc is None:
            continue
        key = conj.lo.tobytes() + conj.hi.tobytes()
        grouped.setdefault(key, (conj.lo, conj.hi, []))[2].append(oc)
    regions = tuple(Region(lo, hi, tuple(ocs)) for lo, hi, ocs in grouped.values())
    return VnnProperty(n_in, n_out, regions, source)


def parse_vnnlib(path: str | Path) -> VnnProperty:
    """Parse a VNN-LIB file (``.gz`` files are decompressed)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
        raise CertkitError(f"{path}: not a (gzipped) UTF-8 text file ({err})") from None
    return parse_vnnlib_text(text, str(path))
