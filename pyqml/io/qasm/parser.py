"""OpenQASM 2.0 syntax tree: :func:`parse` turns source text into a :class:`Program` of statements.

The parser checks syntax only (names, registers and gate signatures are the interpreter's business), and
it never recurses on the input: expressions are read by operator precedence with explicit stacks and
walked in post-order (:func:`postfix`), so deeply nested parentheses, long sums or thousands of signs cost
memory in proportion to their length, never Python stack frames.

Expression grammar (the OpenQASM 2.0 one)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := ('-' | '+') unary | power
    power  := atom ('^' unary)?                # right-associative, 2^-1 allowed, -2^2 = -(2^2)
    atom   := real | int | 'pi' | id | func '(' expr ')' | '(' expr ')'
    func   := sin | cos | tan | exp | ln | sqrt
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union

from .errors import QASMError
from .lexer import Token, iter_tokens

__all__ = ["Arg", "Barrier", "Expr", "FUNCTIONS", "GateCall", "GateDecl", "Include", "MAX_INT_DIGITS",
           "Measure", "Program", "RegDecl", "Statement", "parse", "postfix"]

FUNCTIONS = ("sin", "cos", "tan", "exp", "ln", "sqrt")

#: Integers (register sizes, indices) longer than this are refused as too large before Python converts
#: them; every limit they are checked against later is far below 10^18.
MAX_INT_DIGITS = 18


@dataclass(eq=False)
class Expr:
    """A parameter expression node: ``kind`` is ``"num"``, ``"pi"``, ``"id"``, ``"neg"``, ``"bin"``
    (``name`` is the operator) or ``"call"`` (``name`` is the function); ``args`` are the operands.

    ``text`` is the source text of a whole parameter expression (set on the root only).
    """

    kind: str
    line: int
    col: int
    value: float = 0.0
    name: str = ""
    args: tuple = ()
    text: str = ""
    _postfix: list | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # iterative: a deep tree must not exhaust the stack when shown
        return f"Expr({self.kind!r}, {self.text or self.name or self.value!r}, line={self.line}, col={self.col})"


def postfix(e: Expr) -> list[Expr]:
    """The nodes of ``e`` in post-order (operands before their operator), computed once per tree."""
    if e._postfix is None:
        out: list[Expr] = []
        stack: list[tuple[Expr, bool]] = [(e, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or not node.args:
                out.append(node)
            else:
                stack.append((node, True))
                stack.extend((a, False) for a in reversed(node.args))
        e._postfix = out
    return e._postfix


@dataclass
class Arg:
    """A quantum or classical argument: ``reg`` or ``reg[index]``."""

    name: str
    index: int | None
    line: int
    col: int


@dataclass
class GateCall:
    """``name(params) args;`` at the top level or in a gate body."""

    name: str
    params: list[Expr]
    args: list[Arg]
    line: int
    col: int


@dataclass
class Barrier:
    keyword: Token
    args: list[Arg]


@dataclass
class Include:
    file: Token  # the quoted file name


@dataclass
class RegDecl:
    """``qreg name[size];`` or ``creg name[size];``."""

    kind: str  # "qreg" | "creg"
    name: Token
    size: int
    size_token: Token


@dataclass
class GateDecl:
    """``gate name(params) qubits { body }`` or ``opaque name(params) qubits;`` (``body`` None)."""

    keyword: Token
    name: Token
    params: list[Token]
    qubits: list[Token]
    body: list[GateCall | Barrier] | None


@dataclass
class Measure:
    keyword: Token
    qubit: Arg
    bit: Arg


Statement = Union[Include, RegDecl, GateDecl, Measure, Barrier, GateCall]


@dataclass
class Program:
    version: Token
    statements: list[Statement]
    end: Token  # the end-of-file token


_BINARY = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_UNARY_PRECEDENCE = 3
_BODY_FORBIDDEN = ("measure", "reset", "if", "gate", "opaque", "qreg", "creg", "include")


class _Parser:
    def __init__(self, text: str, max_statements: int | None):
        self.lines = text.split("\n")
        self.tokens = iter_tokens(text)
        self.tok = next(self.tokens)  # the current token
        self.prev = self.tok  # the one before it
        self.max_statements = max_statements
        self.n_statements = 0

    # --- token helpers ---
    def advance(self) -> Token:
        t = self.tok
        if t.kind != "eof":
            self.prev = t
            self.tok = next(self.tokens)
        return t

    def error(self, msg: str, t: Token | None = None) -> QASMError:
        t = t or self.tok
        return QASMError(msg, t.line, t.col)

    @staticmethod
    def describe(t: Token) -> str:
        return "end of file" if t.kind == "eof" else repr(t.text)

    def is_sym(self, s: str) -> bool:
        return self.tok.kind == "sym" and self.tok.text == s

    def expect_sym(self, s: str) -> Token:
        if not self.is_sym(s):
            raise self.error(f"expected '{s}', found {self.describe(self.tok)}")
        return self.advance()

    def accept_sym(self, s: str) -> bool:
        if self.is_sym(s):
            self.advance()
            return True
        return False

    def expect_id(self, what: str = "an identifier") -> Token:
        t = self.tok
        if t.kind != "id":
            raise self.error(f"expected {what}, found {self.describe(t)}")
        return self.advance()

    def expect_int(self, what: str) -> tuple[int, Token]:
        t = self.tok
        if t.kind != "int":
            raise self.error(f"expected {what} (a non-negative integer), found {self.describe(t)}")
        digits = t.text.lstrip("0")
        if len(digits) > MAX_INT_DIGITS:
            raise self.error(f"{what} {t.text[:12]}... ({len(digits)} digits) is too large")
        self.advance()
        return int(t.text), t

    # --- program ---
    def program(self) -> Program:
        t = self.tok
        if not (t.kind == "id" and t.text == "OPENQASM"):
            raise self.error("a program must start with 'OPENQASM 2.0;'")
        self.advance()
        v = self.tok
        if v.kind not in ("real", "int"):
            raise self.error(f"expected a version number after OPENQASM, found {self.describe(v)}")
        if float(v.text) != 2.0:
            raise self.error(f"only OpenQASM 2.0 is supported, this file is version {v.text}", v)
        self.advance()
        self.expect_sym(";")
        statements: list[Statement] = []
        while self.tok.kind != "eof":
            self.count_statement()
            statements.append(self.statement())
        return Program(v, statements, self.tok)

    def count_statement(self) -> None:
        """Bound the syntax tree (statements at the top level and in gate bodies) before it is built."""
        self.n_statements += 1
        if self.max_statements is not None and self.n_statements > self.max_statements:
            raise self.error(f"the program has more than {self.max_statements} statements, the most that "
                             "fit the memory limit (see pyqml.io.qasm.max_operations)")

    def statement(self) -> Statement:
        t = self.tok
        if t.kind != "id":
            raise self.error(f"expected a statement, found {self.describe(t)}")
        word = t.text
        if word == "OPENQASM":
            raise self.error("'OPENQASM' may appear only once, as the first statement")
        if word == "include":
            self.advance()
            s = self.tok
            if s.kind != "str":
                raise self.error(f"expected a file name in quotes after include, found {self.describe(s)}")
            self.advance()
            self.expect_sym(";")
            return Include(s)
        if word in ("qreg", "creg"):
            self.advance()
            name = self.expect_id("a register name")
            self.expect_sym("[")
            size, size_tok = self.expect_int("the register size")
            self.expect_sym("]")
            self.expect_sym(";")
            return RegDecl(word, name, size, size_tok)
        if word in ("gate", "opaque"):
            return self.gate_declaration(opaque=(word == "opaque"))
        if word == "measure":
            self.advance()
            q = self.arg()
            self.expect_sym("->")
            c = self.arg()
            self.expect_sym(";")
            return Measure(t, q, c)
        if word == "barrier":
            self.advance()
            args = self.arg_list()
            self.expect_sym(";")
            return Barrier(t, args)
        if word == "reset":
            raise self.error("'reset' is not supported: pyqml simulates pure states without mid-circuit "
                             "measurement or reset")
        if word == "if":
            raise self.error("'if' is not supported: pyqml simulates pure states without classically "
                             "controlled operations")
        self.advance()
        return self.gate_call(t)

    def gate_declaration(self, opaque: bool) -> GateDecl:
        kw = self.advance()
        name = self.expect_id("a gate name")
        params: list[Token] = []
        if self.accept_sym("(") and not self.accept_sym(")"):
            params = self.id_list("a parameter name")
            self.expect_sym(")")
        qubits = self.id_list("a qubit argument name")
        if opaque:
            self.expect_sym(";")
            return GateDecl(kw, name, params, qubits, None)
        self.expect_sym("{")
        body: list[GateCall | Barrier] = []
        while not self.accept_sym("}"):
            t = self.tok
            if t.kind == "eof":
                raise self.error(f"missing '}}' closing the definition of gate '{name.text}'")
            if t.kind != "id":
                raise self.error(f"expected a gate call in the body of '{name.text}', found {self.describe(t)}")
            self.count_statement()
            if t.text == "barrier":
                self.advance()
                args = self.arg_list()
                self.expect_sym(";")
                body.append(Barrier(t, args))
                continue
            if t.text in _BODY_FORBIDDEN:
                raise self.error(f"'{t.text}' is not allowed inside a gate definition")
            self.advance()
            body.append(self.gate_call(t))
        return GateDecl(kw, name, params, qubits, body)

    # --- arguments ---
    def arg(self) -> Arg:
        t = self.expect_id("a register name")
        index = None
        if self.accept_sym("["):
            index, _ = self.expect_int("an index")
            self.expect_sym("]")
        return Arg(t.text, index, t.line, t.col)

    def arg_list(self) -> list[Arg]:
        args = [self.arg()]
        while self.accept_sym(","):
            args.append(self.arg())
        return args

    def id_list(self, what: str) -> list[Token]:
        ids = [self.expect_id(what)]
        while self.accept_sym(","):
            ids.append(self.expect_id(what))
        return ids

    def gate_call(self, name_tok: Token) -> GateCall:
        params: list[Expr] = []
        if self.accept_sym("(") and not self.accept_sym(")"):
            params.append(self.expr())
            while self.accept_sym(","):
                params.append(self.expr())
            self.expect_sym(")")
        if self.tok.kind != "id":
            raise self.error(f"expected the qubit arguments of '{name_tok.text}', found {self.describe(self.tok)}")
        args = self.arg_list()
        self.expect_sym(";")
        return GateCall(name_tok.text, params, args, name_tok.line, name_tok.col)

    # --- expressions: operator precedence with explicit stacks ---
    def expr(self) -> Expr:
        start = self.tok
        operands: list[Expr] = []
        # entries: ("bin", token, precedence) | ("neg", token) | ("(", token, function name or "")
        ops: list[tuple] = []

        def reduce_top() -> None:
            entry = ops.pop()
            if entry[0] == "neg":
                t = entry[1]
                operands.append(Expr("neg", t.line, t.col, args=(operands.pop(),)))
            else:
                t = entry[1]
                right = operands.pop()
                left = operands.pop()
                operands.append(Expr("bin", t.line, t.col, name=t.text, args=(left, right)))

        expect_operand = True
        n_open = 0  # "(" entries on ops
        while True:
            t = self.tok
            if expect_operand:
                if t.kind == "sym" and t.text in ("-", "+"):
                    self.advance()
                    if t.text == "-":
                        ops.append(("neg", t))
                    continue
                if t.kind in ("real", "int"):
                    self.advance()
                    operands.append(Expr("num", t.line, t.col, value=float(t.text)))
                    expect_operand = False
                    continue
                if t.kind == "id":
                    self.advance()
                    if t.text == "pi":
                        operands.append(Expr("pi", t.line, t.col, value=math.pi))
                    elif t.text in FUNCTIONS:
                        self.expect_sym("(")
                        ops.append(("(", t, t.text))
                        n_open += 1
                        continue
                    else:
                        operands.append(Expr("id", t.line, t.col, name=t.text))
                    expect_operand = False
                    continue
                if t.kind == "sym" and t.text == "(":
                    self.advance()
                    ops.append(("(", t, ""))
                    n_open += 1
                    continue
                raise self.error(f"expected a number, 'pi', a parameter or '(', found {self.describe(t)}")
            # expecting an operator, a closing parenthesis or the end of the expression
            if t.kind == "sym" and t.text in _BINARY:
                prec = _BINARY[t.text]
                right_assoc = t.text == "^"
                while ops and ops[-1][0] != "(":
                    top_prec = _UNARY_PRECEDENCE if ops[-1][0] == "neg" else ops[-1][2]
                    if top_prec > prec or (top_prec == prec and not right_assoc):
                        reduce_top()
                    else:
                        break
                self.advance()
                ops.append(("bin", t, prec))
                expect_operand = True
                continue
            if t.kind == "sym" and t.text == ")" and n_open:
                while ops[-1][0] != "(":
                    reduce_top()
                _, open_tok, func = ops.pop()
                n_open -= 1
                self.advance()
                if func:
                    operands.append(Expr("call", open_tok.line, open_tok.col, name=func, args=(operands.pop(),)))
                continue
            break
        while ops:
            if ops[-1][0] == "(":
                raise self.error(f"expected ')', found {self.describe(self.tok)}")
            reduce_top()
        e = operands.pop()
        end = self.prev
        e.text = self._slice(start, end)
        return e

    def _slice(self, a: Token, b: Token) -> str:
        if a.line == b.line:
            return self.lines[a.line - 1][a.col - 1:b.col - 1 + len(b.text)]
        return a.text + " ... " + b.text


def parse(text: str, max_statements: int | None = None) -> Program:
    """The syntax tree of OpenQASM 2.0 source; :class:`QASMError` (with line and column) if malformed
    or if it has more than ``max_statements`` statements."""
    return _Parser(text, max_statements).program()
