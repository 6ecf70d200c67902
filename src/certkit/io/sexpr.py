"""A small S-expression reader that remembers where every atom and list starts.

Used by the VNN-LIB parser, so that every error can point at a line and column. Comments
run from ``;`` to the end of the line. Atoms are kept as text; the caller decides what a
number or a name is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CertkitError


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in a source text."""

    line: int
    col: int

    @classmethod
    def of(cls, text: str, offset: int) -> Pos:
        """The line and column of character ``offset`` of ``text``."""
        line = text.count("\n", 0, offset) + 1
        return cls(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


@dataclass(frozen=True)
class Atom:
    """A token that is not a parenthesis; ``at`` is its offset in the text."""

    text: str
    at: int


@dataclass(frozen=True)
class SList:
    """A parenthesised list of atoms and lists; ``at`` is the offset of its ``(``."""

    items: tuple[Atom | SList, ...]
    at: int


SExpr = Atom | SList


class SyntaxErrorAt(CertkitError):
    """A syntax or semantic error at a position of a file."""

    def __init__(self, source: str, pos: Pos, message: str) -> None:
        super().__init__(f"{source}:{pos.line}:{pos.col}: {message}")
        self.source, self.pos, self.message = source, pos, message


_TOKEN = re.compile(r"[()]|[^\s();]+|;[^\n]*")


def read_all(text: str, source: str = "<string>") -> list[SExpr]:
    """Every top-level expression of ``text``; unbalanced parentheses are errors."""
    stack: list[tuple[int, list[SExpr]]] = []
    top: list[SExpr] = []
    cur = top
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == "(":
            stack.append((m.start(), cur))
            cur = []
        elif tok == ")":
            if not stack:
                raise SyntaxErrorAt(source, Pos.of(text, m.start()), "unexpected ')'")
            start, parent = stack.pop()
            parent.append(SList(tuple(cur), start))
            cur = parent
        elif tok[0] != ";":
            if not tok.isprintable():
                raise SyntaxErrorAt(source, Pos.of(text, m.start()),
                                    f"unexpected character in {tok!r}")
            cur.append(Atom(tok, m.start()))
    if stack:
        raise SyntaxErrorAt(source, Pos.of(text, stack[-1][0]), "'(' is never closed")
    return top
