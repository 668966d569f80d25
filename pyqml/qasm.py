"""OpenQASM 2.0 import: ``circuit_from_qasm(text, trainable=False) -> Circuit``.

Supported
---------
- the ``OPENQASM 2.0;`` header (required, first statement) and ``include "qelib1.inc";``
- the built-in gates ``U(theta, phi, lambda)`` and ``CX``, and every gate of qelib1.inc (below)
- several ``qreg`` declarations, concatenated in declaration order to wires ``0..n-1`` (``q[0]`` of the
  first register is wire 0, the most significant bit of basis indices, as everywhere in pyqml)
- ``creg``; ``measure`` and ``barrier`` are accepted and have no effect on the simulated state (results are
  asked for through observables, ``probs`` or ``sample``). A gate acting on a qubit after it was measured
  is refused: a pure-state simulator cannot represent the collapse.
- ``gate`` definitions with parameters and nested calls; ``opaque`` declarations (an error if applied)
- register broadcast (``h q;``, ``cx q, r;``, ``cx q[0], r;``)
- parameter expressions: numbers, ``pi``, ``+ - * / ^``, unary minus, parentheses and
  ``sin cos tan exp ln sqrt``
- ``//`` and ``/* */`` comments

``reset`` and ``if`` are refused with a :class:`QASMError`: they need mixed states or classical feedback.

Gate conventions
----------------
Each qelib1.inc gate has the matrix of the gate of the same name in Qiskit's and PennyLane's standard
libraries, which is how QASM files are written and read in practice: ``U``/``u3``/``u`` = ``U3``,
``u2(phi, lam)`` = ``U3(pi/2, phi, lam)``, ``u1``/``p`` = ``PhaseShift``, ``rx``/``ry``/``rz`` =
``RX``/``RY``/``RZ``, ``sx`` = ``SX``, ``cu1``/``cp`` = ``ControlledPhaseShift``, ``rxx`` = ``IsingXX``,
``rzz`` = ``IsingZZ``, ``ch`` = ``CH``, ``cu3`` and ``cu`` controlled ``U3`` (times ``e^{i gamma}`` for
``cu``), ``csx`` controlled ``SX``, ``c3x``/``c4x`` multi-controlled X, ``c3sqrtx`` triply controlled
``SX``, ``rccx``/``rc3x`` the relative-phase Toffolis of their definitions. The bodies written in
qelib1.inc itself define some of these only up to a global phase (``rz`` as ``u1``, ``sx`` as
``sdg; h; sdg``, ``rxx``, ``rzz``, ``ch``); the OpenQASM 2.0 specification leaves global phase
unspecified. A global phase changes nothing measurable (expectation values, probabilities, samples,
gradients); it shows only in :func:`pyqml.state`.

Gates without a pyqml counterpart are expanded exactly:

- ``cu3(theta, phi, lam) c, t`` -> ``PhaseShift(lam/2) c; PhaseShift(phi/2) c; CRot(lam, theta, phi) c, t``
- ``cu(theta, phi, lam, gamma)`` -> ``PhaseShift(gamma) c`` and the ``cu3`` expansion
- ``csx c, t`` -> ``PhaseShift(pi/4) c; CRX(pi/2) c, t``
- ``c3x``, ``c4x``, ``c3sqrtx``: Hadamards on the target around a multi-controlled phase, itself a
  product of diagonal ``PhaseShift``/``RZ``/``MultiRZ`` gates (the Walsh expansion of
  ``exp(i alpha x_1 ... x_k)``)
- ``rccx``, ``rc3x``: their H / T / CNOT definitions

Trainable angles
----------------
With ``trainable=True`` every parameter of every gate statement at the top level of the file (outside
``gate`` bodies) becomes one weight, in file order: ``weights[k]`` starts at the value of the k-th such
parameter expression (``rx(pi/4) q[0];`` gives one weight with default ``pi/4``), and
``circuit.default_weights`` holds those values. A broadcast statement (``rx(0.3) q;``) has one parameter,
hence one weight shared by all its applications. Angles fixed by a definition stay constants (the
``pi/2`` of ``u2``). Inside user-defined gates, parameters propagate as exact affine functions of the
weights: ``rz(theta/2 + pi) a;`` binds ``0.5 * weights[k] + pi``. An angle that is not affine in one
weight (``theta * phi``, ``sin(theta)``, ``theta + phi``) cannot be traced, and raises a
:class:`QASMError` naming the gate, the expression and its line.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from .frontend import recording
from .frontend.ops import GATES
from .frontend.params import WEIGHT, Param

__all__ = ["QASMError", "circuit_from_qasm"]


class QASMError(ValueError):
    """A problem in OpenQASM source; the message starts with ``line L, column C`` where known.

    Attributes
    ----------
    line, column : int or None
        1-based position of the problem in the source text.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        self.reason = message
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
            message = f"{where}: {message}"
        super().__init__(message)


# ---------------------------------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # "id", "real", "int", "str", "sym", "eof"
    text: str
    line: int
    col: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<real>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)
  | (?P<int>\d+)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"[^"\n]*")
  | (?P<sym>->|==|[;,()\[\]{}+\-*/^])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    """Split OpenQASM source into tokens with 1-based line and column numbers."""
    tokens: list[Token] = []
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
            tokens.append(Token(kind, tok, line, col))
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


# ---------------------------------------------------------------------------------------------------
# Parameter values: exact affine functions of the trainable weights
# ---------------------------------------------------------------------------------------------------

class Affine:
    """``const + sum_k coeffs[k] * weights[k]``: the value of a parameter expression."""

    __slots__ = ("coeffs", "const")

    def __init__(self, const: float, coeffs: dict[int, float] | None = None):
        self.const = float(const)
        self.coeffs = {k: c for k, c in (coeffs or {}).items() if c != 0.0}

    @property
    def is_const(self) -> bool:
        return not self.coeffs

    def __add__(self, o: Affine) -> Affine:
        d = dict(self.coeffs)
        for k, c in o.coeffs.items():
            d[k] = d.get(k, 0.0) + c
        return Affine(self.const + o.const, d)

    def __neg__(self) -> Affine:
        return Affine(-self.const, {k: -c for k, c in self.coeffs.items()})

    def __sub__(self, o: Affine) -> Affine:
        return self + (-o)

    def scaled(self, s: float) -> Affine:
        return Affine(self.const * s, {k: c * s for k, c in self.coeffs.items()})


# ---------------------------------------------------------------------------------------------------
# Syntax tree
# ---------------------------------------------------------------------------------------------------

@dataclass
class Expr:
    kind: str  # "num", "pi", "id", "neg", "bin", "call"
    line: int
    col: int
    value: float = 0.0
    name: str = ""
    args: tuple = ()
    text: str = ""


@dataclass
class Arg:
    """A quantum or classical argument: ``reg`` or ``reg[index]``."""

    name: str
    index: int | None
    line: int
    col: int


@dataclass
class GateCall:
    name: str
    params: list[Expr]
    args: list[Arg]
    line: int
    col: int


@dataclass
class GateDef:
    name: str
    params: list[str]
    qubits: list[str]
    body: list[GateCall] | None  # None: opaque
    line: int
    col: int


_FUNCS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log, "sqrt": math.sqrt,
}
_RESERVED = {"OPENQASM", "include", "qreg", "creg", "gate", "opaque", "measure", "reset", "barrier", "if",
             "pi", "U", "CX"} | set(_FUNCS)


# ---------------------------------------------------------------------------------------------------
# Gate library: the built-ins U and CX and qelib1.inc
# ---------------------------------------------------------------------------------------------------

# A parameter handed to a pyqml gate: a number or an Affine (turned into a Param when emitted).
Angle = Union[float, Affine]
# emit(gate_name, params, wires) adds one pyqml operation.
Emit = Callable[[str, Sequence[Angle], Sequence[int]], None]


def _half(a: Affine) -> Affine:
    return a.scaled(0.5)


def _c(x: float) -> Affine:
    return Affine(x)


def _multi_controlled_phase(emit: Emit, alpha: float, wires: Sequence[int]) -> None:
    """``exp(i alpha x_1 x_2 ... x_n)`` on the given wires (phase alpha on |1...1>), exactly.

    With z_i = 1 - 2 x_i, ``prod_i x_i = 2^-n sum_S (-1)^|S| Z_S`` over all subsets S of the wires, so the
    gate is ``e^{i alpha 2^-n}`` times a product of ``exp(-i theta_S Z_S / 2)`` with
    ``theta_S = -alpha 2^(1-n) (-1)^|S|``. The global factor is absorbed by writing the first singleton as
    ``PhaseShift(theta) = e^{i theta / 2} RZ(theta)``.
    """
    n = len(wires)
    for mask in range(1, 1 << n):
        sub = [wires[i] for i in range(n) if mask >> i & 1]
        theta = -alpha * 2.0 ** (1 - n) * (-1) ** len(sub)
        if len(sub) == 1:
            emit("PhaseShift" if mask == 1 else "RZ", [theta], sub)
        else:
            emit("MultiRZ", [theta], sub)


def _controlled_sqrt_x_chain(emit: Emit, alpha: float, wires: Sequence[int]) -> None:
    """H on the last wire around a multi-controlled phase: the controlled ``H P(alpha) H``."""
    emit("Hadamard", [], [wires[-1]])
    _multi_controlled_phase(emit, alpha, wires)
    emit("Hadamard", [], [wires[-1]])


# Relative-phase Toffolis, as defined in qelib1.inc (H, T, T^dagger and CNOT).
_RCCX = [("Hadamard", (2,)), ("T", (2,)), ("CNOT", (1, 2)), ("Tdg", (2,)), ("CNOT", (0, 2)), ("T", (2,)),
         ("CNOT", (1, 2)), ("Tdg", (2,)), ("Hadamard", (2,))]
_RC3X = [("Hadamard", (3,)), ("T", (3,)), ("CNOT", (2, 3)), ("Tdg", (3,)), ("Hadamard", (3,)),
         ("CNOT", (0, 3)), ("T", (3,)), ("CNOT", (1, 3)), ("Tdg", (3,)), ("CNOT", (0, 3)), ("T", (3,)),
         ("CNOT", (1, 3)), ("Tdg", (3,)), ("Hadamard", (3,)), ("T", (3,)), ("CNOT", (2, 3)), ("Tdg", (3,)),
         ("Hadamard", (3,))]


def _fixed(seq):
    def expand(emit: Emit, p: Sequence[Affine], w: Sequence[int]) -> None:
        for name, idx in seq:
            emit(name, [], [w[i] for i in idx])
    return expand


def _native(name: str, *, reorder: Callable[[list], list] | None = None):
    def expand(emit: Emit, p: Sequence[Affine], w: Sequence[int]) -> None:
        emit(name, list(p) if reorder is None else reorder(list(p)), w)
    return expand


def _cu3(emit: Emit, p: Sequence[Affine], w: Sequence[int]) -> None:
    theta, phi, lam = p
    # controlled-U3(theta, phi, lam) = |1><1| (x) e^{i(phi+lam)/2} Rot(lam, theta, phi) + |0><0| (x) 1
    emit("PhaseShift", [_half(lam)], [w[0]])
    emit("PhaseShift", [_half(phi)], [w[0]])
    emit("CRot", [lam, theta, phi], w)


def _cu(emit: Emit, p: Sequence[Affine], w: Sequence[int]) -> None:
    emit("PhaseShift", [p[3]], [w[0]])
    _cu3(emit, p[:3], w)


def _csx(emit: Emit, p: Sequence[Affine], w: Sequence[int]) -> None:
    # SX = e^{i pi/4} RX(pi/2)
    emit("PhaseShift", [math.pi / 4], [w[0]])
    emit("CRX", [math.pi / 2], w)


@dataclass
class LibGate:
    n_params: int
    n_qubits: int
    expand: Callable[[Emit, Sequence[Affine], Sequence[int]], None]


BUILTIN_GATES: dict[str, LibGate] = {
    "U": LibGate(3, 1, _native("U3")),
    "CX": LibGate(0, 2, _native("CNOT")),
}

QELIB1_GATES: dict[str, LibGate] = {
    "u3": LibGate(3, 1, _native("U3")),
    "u": LibGate(3, 1, _native("U3")),
    "u2": LibGate(2, 1, _native("U3", reorder=lambda p: [math.pi / 2, p[0], p[1]])),
    "u1": LibGate(1, 1, _native("PhaseShift")),
    "p": LibGate(1, 1, _native("PhaseShift")),
    "u0": LibGate(1, 1, _native("Identity", reorder=lambda p: [])),
    "id": LibGate(0, 1, _native("Identity")),
    "cx": LibGate(0, 2, _native("CNOT")),
    "x": LibGate(0, 1, _native("PauliX")),
    "y": LibGate(0, 1, _native("PauliY")),
    "z": LibGate(0, 1, _native("PauliZ")),
    "h": LibGate(0, 1, _native("Hadamard")),
    "s": LibGate(0, 1, _native("S")),
    "sdg": LibGate(0, 1, _native("Sdg")),
    "t": LibGate(0, 1, _native("T")),
    "tdg": LibGate(0, 1, _native("Tdg")),
    "sx": LibGate(0, 1, _native("SX")),
    "sxdg": LibGate(0, 1, _native("SXdg")),
    "rx": LibGate(1, 1, _native("RX")),
    "ry": LibGate(1, 1, _native("RY")),
    "rz": LibGate(1, 1, _native("RZ")),
    "cz": LibGate(0, 2, _native("CZ")),
    "cy": LibGate(0, 2, _native("CY")),
    "ch": LibGate(0, 2, _native("CH")),
    "swap": LibGate(0, 2, _native("SWAP")),
    "ccx": LibGate(0, 3, _native("Toffoli")),
    "cswap": LibGate(0, 3, _native("CSWAP")),
    "crx": LibGate(1, 2, _native("CRX")),
    "cry": LibGate(1, 2, _native("CRY")),
    "crz": LibGate(1, 2, _native("CRZ")),
    "cu1": LibGate(1, 2, _native("ControlledPhaseShift")),
    "cp": LibGate(1, 2, _native("ControlledPhaseShift")),
    "cu3": LibGate(3, 2, _cu3),
    "cu": LibGate(4, 2, _cu),
    "csx": LibGate(0, 2, _csx),
    "rxx": LibGate(1, 2, _native("IsingXX")),
    "rzz": LibGate(1, 2, _native("IsingZZ")),
    "rccx": LibGate(0, 3, _fixed(_RCCX)),
    "rc3x": LibGate(0, 4, _fixed(_RC3X)),
    "c3x": LibGate(0, 4, lambda emit, p, w: _controlled_sqrt_x_chain(emit, math.pi, w)),
    "c3sqrtx": LibGate(0, 4, lambda emit, p, w: _controlled_sqrt_x_chain(emit, math.pi / 2, w)),
    "c4x": LibGate(0, 5, lambda emit, p, w: _controlled_sqrt_x_chain(emit, math.pi, w)),
}


# ---------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.lines = text.split("\n")
        self.toks = tokenize(text)
        self.i = 0

    # --- token helpers ---
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def error(self, msg: str, t: Token | None = None) -> QASMError:
        t = t or self.tok
        return QASMError(msg, t.line, t.col)

    def _describe(self, t: Token) -> str:
        return "end of file" if t.kind == "eof" else repr(t.text)

    def expect_sym(self, s: str) -> Token:
        t = self.tok
        if t.kind != "sym" or t.text != s:
            raise self.error(f"expected '{s}', found {self._describe(t)}")
        return self.advance()

    def accept_sym(self, s: str) -> bool:
        if self.tok.kind == "sym" and self.tok.text == s:
            self.advance()
            return True
        return False

    def expect_id(self, what: str = "an identifier") -> Token:
        t = self.tok
        if t.kind != "id":
            raise self.error(f"expected {what}, found {self._describe(t)}")
        return self.advance()

    def expect_int(self, what: str) -> int:
        t = self.tok
        if t.kind != "int":
            raise self.error(f"expected {what} (a non-negative integer), found {self._describe(t)}")
        self.advance()
        return int(t.text)

    # --- expressions ---
    def expr(self) -> Expr:
        start = self.tok
        e = self._additive()
        end = self.toks[self.i - 1]
        e.text = self._slice(start, end)
        return e

    def _slice(self, a: Token, b: Token) -> str:
        if a.line == b.line:
            return self.lines[a.line - 1][a.col - 1:b.col - 1 + len(b.text)]
        return a.text + " ... " + b.text

    def _additive(self) -> Expr:
        left = self._multiplicative()
        while self.tok.kind == "sym" and self.tok.text in ("+", "-"):
            op = self.advance()
            right = self._multiplicative()
            left = Expr("bin", op.line, op.col, name=op.text, args=(left, right))
        return left

    def _multiplicative(self) -> Expr:
        left = self._unary()
        while self.tok.kind == "sym" and self.tok.text in ("*", "/"):
            op = self.advance()
            right = self._unary()
            left = Expr("bin", op.line, op.col, name=op.text, args=(left, right))
        return left

    def _unary(self) -> Expr:
        if self.tok.kind == "sym" and self.tok.text in ("-", "+"):
            op = self.advance()
            operand = self._unary()
            return operand if op.text == "+" else Expr("neg", op.line, op.col, args=(operand,))
        return self._power()

    def _power(self) -> Expr:
        base = self._atom()
        if self.tok.kind == "sym" and self.tok.text == "^":
            op = self.advance()
            exponent = self._unary()  # right-associative; 2^-1 allowed
            return Expr("bin", op.line, op.col, name="^", args=(base, exponent))
        return base

    def _atom(self) -> Expr:
        t = self.tok
        if t.kind in ("real", "int"):
            self.advance()
            return Expr("num", t.line, t.col, value=float(t.text))
        if t.kind == "id":
            self.advance()
            if t.text == "pi":
                return Expr("pi", t.line, t.col, value=math.pi)
            if t.text in _FUNCS:
                self.expect_sym("(")
                arg = self._additive()
                self.expect_sym(")")
                return Expr("call", t.line, t.col, name=t.text, args=(arg,))
            return Expr("id", t.line, t.col, name=t.text)
        if t.kind == "sym" and t.text == "(":
            self.advance()
            e = self._additive()
            self.expect_sym(")")
            return e
        raise self.error(f"expected a number, 'pi', a parameter or '(', found {self._describe(t)}")

    # --- arguments ---
    def arg(self) -> Arg:
        t = self.expect_id("a register name")
        index = None
        if self.accept_sym("["):
            index = self.expect_int("an index")
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
            raise self.error(f"expected the qubit arguments of '{name_tok.text}', found {self._describe(self.tok)}")
        args = self.arg_list()
        self.expect_sym(";")
        return GateCall(name_tok.text, params, args, name_tok.line, name_tok.col)


# ---------------------------------------------------------------------------------------------------
# Interpreter
# ---------------------------------------------------------------------------------------------------

class _Collector:
    """A recorder that keeps the operations built during import out of any circuit being recorded."""

    def __init__(self):
        self.ops: list = []

    def record(self, op) -> None:
        self.ops.append(op)

    def discard(self, op) -> None:  # pragma: no cover - ops here are never used as observables
        self.ops = [o for o in self.ops if o is not op]


@dataclass
class _Program:
    trainable: bool
    qregs: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, size)
    cregs: dict[str, int] = field(default_factory=dict)
    gates: dict[str, GateDef | LibGate] = field(default_factory=dict)
    n_qubits: int = 0
    defaults: list[float] = field(default_factory=list)
    measured: dict[int, int] = field(default_factory=dict)  # wire -> line of its measurement
    included: bool = False


class _Interpreter:
    def __init__(self, text: str, trainable: bool):
        self.p = _Parser(text)
        self.prog = _Program(trainable)
        self.prog.gates.update(BUILTIN_GATES)
        self.ops: list = []

    # --- expressions ---
    def eval(self, e: Expr, env: dict[str, Affine]) -> Affine:
        k = e.kind
        if k in ("num", "pi"):
            return Affine(e.value)
        if k == "id":
            if e.name not in env:
                where = "in this gate's parameters" if env else "here (only numbers and pi at the top level)"
                raise QASMError(f"unknown parameter '{e.name}': not defined {where}", e.line, e.col)
            return env[e.name]
        if k == "neg":
            return -self.eval(e.args[0], env)
        if k == "call":
            a = self.eval(e.args[0], env)
            if not a.is_const:
                raise self._not_affine(e, f"{e.name}() of a trainable angle")
            try:
                v = _FUNCS[e.name](a.const)
            except (ValueError, OverflowError):
                raise QASMError(f"{e.name}({a.const:g}) is undefined", e.line, e.col) from None
            return Affine(v)
        # binary
        a, b = (self.eval(x, env) for x in e.args)
        op = e.name
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            if a.is_const:
                return b.scaled(a.const)
            if b.is_const:
                return a.scaled(b.const)
            raise self._not_affine(e, "a product of two trainable angles")
        if op == "/":
            if not b.is_const:
                raise self._not_affine(e, "division by a trainable angle")
            if b.const == 0.0:
                raise QASMError("division by zero", e.line, e.col)
            return a.scaled(1.0 / b.const)
        if op == "^":
            if not (a.is_const and b.is_const):
                raise self._not_affine(e, "a power of a trainable angle")
            try:
                v = a.const ** b.const
            except (ZeroDivisionError, OverflowError):
                raise QASMError(f"{a.const:g}^{b.const:g} is undefined", e.line, e.col) from None
            if isinstance(v, complex):
                raise QASMError(f"{a.const:g}^{b.const:g} is not a real number", e.line, e.col)
            return Affine(v)
        raise AssertionError(op)  # pragma: no cover

    def _not_affine(self, e: Expr, what: str) -> QASMError:
        return QASMError(
            f"with trainable=True every gate angle must be an affine function a*w + b of one weight; "
            f"this expression is {what}", e.line, e.col)

    # --- statements ---
    def run(self):
        p = self.p
        t = p.tok
        if not (t.kind == "id" and t.text == "OPENQASM"):
            raise p.error("a program must start with 'OPENQASM 2.0;'")
        p.advance()
        v = p.tok
        if v.kind not in ("real", "int"):
            raise p.error(f"expected a version number after OPENQASM, found {p._describe(v)}")
        if float(v.text) != 2.0:
            raise p.error(f"only OpenQASM 2.0 is supported, this file is version {v.text}", v)
        p.advance()
        p.expect_sym(";")
        while p.tok.kind != "eof":
            self.statement()
        if self.prog.n_qubits == 0:
            raise QASMError("the program declares no qubits (no 'qreg')", p.tok.line, p.tok.col)

    def statement(self) -> None:
        p = self.p
        t = p.tok
        if t.kind != "id":
            raise p.error(f"expected a statement, found {p._describe(t)}")
        word = t.text
        if word == "OPENQASM":
            raise p.error("'OPENQASM' may appear only once, as the first statement")
        if word == "include":
            p.advance()
            s = p.tok
            if s.kind != "str":
                raise p.error(f"expected a file name in quotes after include, found {p._describe(s)}")
            p.advance()
            p.expect_sym(";")
            if s.text[1:-1] != "qelib1.inc":
                raise QASMError(f"cannot include {s.text}: only \"qelib1.inc\" is available", s.line, s.col)
            if not self.prog.included:
                for name, g in QELIB1_GATES.items():
                    if name in self.prog.gates:
                        raise QASMError(f"qelib1.inc redefines gate '{name}', already defined", s.line, s.col)
                    self.prog.gates[name] = g
                self.prog.included = True
            return
        if word in ("qreg", "creg"):
            p.advance()
            name = p.expect_id("a register name")
            p.expect_sym("[")
            size_tok = p.tok
            size = p.expect_int("the register size")
            p.expect_sym("]")
            p.expect_sym(";")
            self._check_new_name(name)
            if size < 1:
                raise QASMError(f"register '{name.text}' must have at least one bit", size_tok.line, size_tok.col)
            if word == "qreg":
                self.prog.qregs[name.text] = (self.prog.n_qubits, size)
                self.prog.n_qubits += size
            else:
                self.prog.cregs[name.text] = size
            return
        if word in ("gate", "opaque"):
            self.gate_definition(opaque=(word == "opaque"))
            return
        if word == "measure":
            p.advance()
            q = p.arg()
            p.expect_sym("->")
            c = p.arg()
            p.expect_sym(";")
            self.measure(q, c, t)
            return
        if word == "barrier":
            p.advance()
            for a in p.arg_list():
                self.qubits(a)  # checked, no effect on the state
            p.expect_sym(";")
            return
        if word == "reset":
            raise p.error("'reset' is not supported: pyqml simulates pure states without mid-circuit "
                          "measurement or reset")
        if word == "if":
            raise p.error("'if' is not supported: pyqml simulates pure states without classically "
                          "controlled operations")
        p.advance()
        call = p.gate_call(t)
        self.apply_top(call)

    def _check_new_name(self, tok: Token) -> None:
        n = tok.text
        if n in _RESERVED:
            raise QASMError(f"'{n}' is a reserved word and cannot be a name", tok.line, tok.col)
        if n in self.prog.qregs or n in self.prog.cregs or n in self.prog.gates:
            raise QASMError(f"'{n}' is already declared", tok.line, tok.col)

    def gate_definition(self, opaque: bool) -> None:
        p = self.p
        kw = p.advance()
        name = p.expect_id("a gate name")
        self._check_new_name(name)
        params: list[Token] = []
        if p.accept_sym("(") and not p.accept_sym(")"):
            params = p.id_list("a parameter name")
            p.expect_sym(")")
        qubits = p.id_list("a qubit argument name")
        seen: set[str] = set()
        for tok in params + qubits:
            if tok.text in seen:
                raise QASMError(f"'{tok.text}' is repeated in the declaration of gate '{name.text}'",
                                tok.line, tok.col)
            if tok.text in _RESERVED:
                raise QASMError(f"'{tok.text}' is a reserved word and cannot be a name", tok.line, tok.col)
            seen.add(tok.text)
        pnames = [x.text for x in params]
        qnames = [x.text for x in qubits]
        if opaque:
            p.expect_sym(";")
            self.prog.gates[name.text] = GateDef(name.text, pnames, qnames, None, kw.line, kw.col)
            return
        p.expect_sym("{")
        body: list[GateCall] = []
        while not p.accept_sym("}"):
            t = p.tok
            if t.kind == "eof":
                raise p.error(f"missing '}}' closing the definition of gate '{name.text}'")
            if t.kind != "id":
                raise p.error(f"expected a gate call in the body of '{name.text}', found {p._describe(t)}")
            if t.text == "barrier":
                p.advance()
                for a in p.arg_list():
                    if a.index is not None or a.name not in qnames:
                        raise QASMError(f"barrier in gate '{name.text}' may only name its qubit arguments",
                                        a.line, a.col)
                p.expect_sym(";")
                continue
            if t.text in ("measure", "reset", "if", "gate", "opaque", "qreg", "creg", "include"):
                raise p.error(f"'{t.text}' is not allowed inside a gate definition")
            p.advance()
            call = p.gate_call(t)
            self._check_body_call(call, name.text, pnames, qnames)
            body.append(call)
        self.prog.gates[name.text] = GateDef(name.text, pnames, qnames, body, kw.line, kw.col)

    def _check_body_call(self, call: GateCall, owner: str, pnames: list[str], qnames: list[str]) -> None:
        g = self._lookup(call)
        self._check_arity(call, g)
        used: set[str] = set()
        for a in call.args:
            if a.index is not None:
                raise QASMError(f"inside gate '{owner}', qubits are named without an index ('{a.name}')",
                                a.line, a.col)
            if a.name not in qnames:
                raise QASMError(f"'{a.name}' is not a qubit argument of gate '{owner}'", a.line, a.col)
            if a.name in used:
                raise QASMError(f"qubit '{a.name}' is used twice in one call of '{call.name}'", a.line, a.col)
            used.add(a.name)
        for e in call.params:
            self._check_names(e, pnames, owner)

    def _check_names(self, e: Expr, pnames: list[str], owner: str) -> None:
        if e.kind == "id" and e.name not in pnames:
            raise QASMError(f"unknown parameter '{e.name}' in gate '{owner}'", e.line, e.col)
        for a in e.args:
            self._check_names(a, pnames, owner)

    def _lookup(self, call: GateCall):
        g = self.prog.gates.get(call.name)
        if g is None:
            hint = ""
            if call.name in QELIB1_GATES and not self.prog.included:
                hint = ' (it is in qelib1.inc: add include "qelib1.inc";)'
            elif call.name in self.prog.qregs or call.name in self.prog.cregs:
                hint = " (that is a register)"
            raise QASMError(f"unknown gate '{call.name}'{hint}", call.line, call.col)
        return g

    @staticmethod
    def _sig(g) -> tuple[int, int]:
        if isinstance(g, LibGate):
            return g.n_params, g.n_qubits
        return len(g.params), len(g.qubits)

    def _check_arity(self, call: GateCall, g) -> None:
        n_params, n_qubits = self._sig(g)
        if len(call.params) != n_params:
            raise QASMError(f"gate '{call.name}' takes {n_params} parameter(s), got {len(call.params)}",
                            call.line, call.col)
        if len(call.args) != n_qubits:
            raise QASMError(f"gate '{call.name}' acts on {n_qubits} qubit(s), got {len(call.args)}",
                            call.line, call.col)

    def qubits(self, a: Arg) -> list[int]:
        reg = self.prog.qregs.get(a.name)
        if reg is None:
            extra = " (it is a classical register)" if a.name in self.prog.cregs else ""
            raise QASMError(f"undeclared quantum register '{a.name}'{extra}", a.line, a.col)
        off, size = reg
        if a.index is None:
            return list(range(off, off + size))
        if a.index >= size:
            raise QASMError(f"index {a.index} is out of range for qreg {a.name}[{size}]", a.line, a.col)
        return [off + a.index]

    def measure(self, q: Arg, c: Arg, kw: Token) -> None:
        qs = self.qubits(q)
        if c.name not in self.prog.cregs:
            extra = " (it is a quantum register)" if c.name in self.prog.qregs else ""
            raise QASMError(f"undeclared classical register '{c.name}'{extra}", c.line, c.col)
        csize = self.prog.cregs[c.name]
        if c.index is not None and c.index >= csize:
            raise QASMError(f"index {c.index} is out of range for creg {c.name}[{csize}]", c.line, c.col)
        n_c = 1 if c.index is not None else csize
        if len(qs) != n_c:
            raise QASMError(f"measure maps {len(qs)} qubit(s) to {n_c} bit(s)", kw.line, kw.col)
        for w in qs:
            self.prog.measured.setdefault(w, kw.line)

    def apply_top(self, call: GateCall) -> None:
        g = self._lookup(call)
        self._check_arity(call, g)
        if isinstance(g, GateDef) and g.body is None:
            raise QASMError(f"gate '{call.name}' is opaque (declared at line {g.line}) and cannot be "
                            "simulated", call.line, call.col)
        # parameters: numbers here; with trainable=True each becomes a fresh weight
        params: list[Affine] = []
        for e in call.params:
            v = self.eval(e, {})
            if not math.isfinite(v.const):
                raise QASMError(f"parameter '{e.text}' of '{call.name}' is {v.const}: angles must be finite",
                                e.line, e.col)
            if self.prog.trainable:
                k = len(self.prog.defaults)
                self.prog.defaults.append(v.const)
                params.append(Affine(0.0, {k: 1.0}))
            else:
                params.append(v)
        # broadcast over whole registers
        lists = [self.qubits(a) for a in call.args]
        sizes = {len(ws) for a, ws in zip(call.args, lists) if a.index is None}
        if len(sizes) > 1:
            raise QASMError(f"'{call.name}' broadcasts over registers of different sizes {sorted(sizes)}",
                            call.line, call.col)
        reps = sizes.pop() if sizes else 1
        for r in range(reps):
            wires = [ws[r] if a.index is None else ws[0] for a, ws in zip(call.args, lists)]
            if len(set(wires)) != len(wires):
                raise QASMError(f"'{call.name}' is applied to the same qubit twice (wires {wires})",
                                call.line, call.col)
            for w in wires:
                if w in self.prog.measured:
                    raise QASMError(
                        f"'{call.name}' acts on qubit {self._wire_name(w)} after it was measured (line "
                        f"{self.prog.measured[w]}): mid-circuit measurement is not supported by a "
                        "pure-state simulator", call.line, call.col)
            self.expand(g, params, wires, call, [])

    def _wire_name(self, w: int) -> str:
        for name, (off, size) in self.prog.qregs.items():
            if off <= w < off + size:
                return f"{name}[{w - off}]"
        return str(w)  # pragma: no cover

    def expand(self, g, params: list[Affine], wires: list[int], call: GateCall, stack: list[GateCall]) -> None:
        def emit(name: str, ps: Sequence[Angle], ws: Sequence[int]) -> None:
            self.emit(name, ps, ws, call, stack)

        if isinstance(g, LibGate):
            g.expand(emit, params, wires)
            return
        if g.body is None:
            raise QASMError(f"gate '{call.name}' is opaque (declared at line {g.line}) and cannot be simulated"
                            + self._called_from(stack), call.line, call.col)
        env = dict(zip(g.params, params))
        qmap = dict(zip(g.qubits, wires))
        for sub in g.body:
            sub_params = [self._eval_in(e, env, sub, stack + [call]) for e in sub.params]
            self.expand(self.prog.gates[sub.name], sub_params, [qmap[a.name] for a in sub.args], sub,
                        stack + [call])

    def _eval_in(self, e: Expr, env, sub: GateCall, stack: list[GateCall]) -> Affine:
        try:
            return self.eval(e, env)
        except QASMError as err:
            raise QASMError(err.reason + self._called_from(stack), err.line, err.column) from None

    @staticmethod
    def _called_from(stack: list[GateCall]) -> str:
        if not stack:
            return ""
        return " (in " + ", called from ".join(f"'{c.name}' at line {c.line}" for c in reversed(stack)) + ")"

    def emit(self, name: str, ps: Sequence[Angle], wires: Sequence[int], call: GateCall,
             stack: list[GateCall]) -> None:
        values = []
        for a in ps:
            if not isinstance(a, Affine):
                values.append(float(a))
                continue
            if not math.isfinite(a.const) or not all(math.isfinite(c) for c in a.coeffs.values()):
                raise QASMError(f"an angle of '{call.name}' is not finite" + self._called_from(stack),
                                call.line, call.col)
            if a.is_const:
                values.append(a.const)
            elif len(a.coeffs) == 1:
                (k, c), = a.coeffs.items()
                values.append(Param(WEIGHT, k, c, a.const))
            else:
                ks = ", ".join(f"weights[{k}]" for k in sorted(a.coeffs))
                raise QASMError(
                    f"with trainable=True, an angle of '{call.name}' depends on several weights ({ks}); "
                    "pyqml traces each angle as a*w + b of one weight" + self._called_from(stack),
                    call.line, call.col)
        GATES[name](*values, wires=list(wires))


def circuit_from_qasm(text: str, trainable: bool = False):
    """A :class:`pyqml.Circuit` from OpenQASM 2.0 source.

    Parameters
    ----------
    text : str
        The program (``OPENQASM 2.0;`` first, usually ``include "qelib1.inc";`` next).
    trainable : bool
        If True, each parameter of each top-level gate statement becomes ``weights[k]`` in file order, and
        the file's values become ``circuit.default_weights`` (see the module docstring for how angles of
        user-defined gates follow).

    Returns
    -------
    Circuit
        On ``n`` wires: the qubits of all ``qreg`` declarations, in declaration order.

    Raises
    ------
    QASMError
        For any syntax or semantic problem, with its line (and column) number.
    """
    from .frontend.circuit import Circuit

    if not isinstance(text, str):
        raise TypeError(f"QASM source must be a str, got {type(text).__name__}")
    interp = _Interpreter(text, bool(trainable))
    collector = _Collector()
    recording.push(collector)
    try:
        interp.run()
    finally:
        recording.pop(collector)
    prog = interp.prog
    if trainable:
        return Circuit(prog.n_qubits, collector.ops, n_weights=len(prog.defaults),
                       weights=np.array(prog.defaults, dtype=float))
    return Circuit(prog.n_qubits, collector.ops)
