"""OpenQASM 2.0 tokens, each with its 1-based line and column."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import QASMError

__all__ = ["Token", "iter_tokens", "tokenize"]


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``"id"``, ``"real"``, ``"int"``, ``"str"``, ``"sym"`` or ``"eof"``."""

    kind: str
    text: str
    line: int
    col: int


# ASCII only: Python's \d would also take other scripts' digits.
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<real>(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)
  | (?P<int>[0-9]+)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"[^"\n]*")
  | (?P<sym>->|==|[;,()\[\]{}+\-*/^])
    """,
    re.VERBOSE | re.DOTALL | re.ASCII,
)


def tokenize(text: str) -> list[Token]:
    """Split OpenQASM source into tokens with 1-based line and column numbers.

    The list ends with one ``"eof"`` token placed just after the last character.
    """
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of :func:`tokenize`, one at a time (the parser holds only the current one)."""
    pos, line, line_start = 0, 1, 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        col = pos - line_start + 1
        if text.startswith("/*", pos) and (m is None or m.lastgroup != "bcomment"):
            raise QASMError("unterminated comment '/*'", line, col)
        if m is None:
            if text[pos] == '"':
                raise QASMError("unterminated string", line, col)
            raise QASMError(f"unexpected character {text[pos]!r}", line, col)
        kind = m.lastgroup
        tok = m.group()
        if kind == "nl":
            line += 1
            line_start = m.end()
        elif kind == "bcomment":
            nls = tok.count("\n")
            if nls:
                line += nls
                line_start = pos + tok.rfind("\n") + 1
        elif kind not in ("ws", "lcomment"):
            yield Token(kind, tok, line, col)
        pos = m.end()
    yield Token("eof", "", line, pos - line_start + 1)
