"""From a QASM syntax tree to pyqml operations: registers to wires, gate definitions checked and sized,
calls expanded (iteratively, so nesting depth costs no Python stack), angles traced as affine functions of
the weights.

Limits
------
A program is sized before anything is expanded: each gate knows how many pyqml operations one call of it
emits (library gates count theirs once; a definition sums its body), and a statement broadcast over
registers multiplies that by the register size. The import refuses, with a :class:`QASMError` at the
statement that crosses it,

- more than :data:`MAX_QUBITS` qubits (the sum of all ``qreg`` sizes; ``creg`` sizes have the same cap),
- more than :func:`max_operations` operations in all, and more than as many parameter-expression nodes
  evaluated while expanding (each costs about as much time as an operation),

where ``max_operations() = pyqml.memory_limit() // BYTES_PER_OP``: an imported operation costs about
``BYTES_PER_OP`` bytes at its peak (the Python operation, its parameters, and the engine's copy when the
circuit is compiled; measured 0.7-1.0 KiB). Raise the memory limit (:func:`pyqml.set_memory_limit`) to
import a larger program. The syntax tree is bounded the same way: at most ``max_operations()`` statements.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

from ... import _core
from ...frontend.ops import GATES
from ...frontend.params import WEIGHT, Param
from .errors import QASMError
from .lexer import Token
from .parser import (
    Arg,
    Barrier,
    Expr,
    GateCall,
    GateDecl,
    Include,
    Measure,
    Program,
    RegDecl,
    postfix,
)
from .qelib1 import BUILTIN_GATES, QELIB1_GATES, Affine, Angle, LibGate

__all__ = ["BYTES_PER_OP", "GateDef", "Interpreter", "MAX_QUBITS", "max_operations"]

#: The most qubits a program may declare. Far more than either method simulates with gates on every wire
#: (the tensor-network method reaches tens of thousands of qubits in shallow circuits); it keeps a typo
#: like ``qreg q[100000000]`` from allocating per-wire tables.
MAX_QUBITS = 1 << 20

#: Peak bytes one imported operation costs (Python operation and parameters, engine copy at compile).
BYTES_PER_OP = 1024


def max_operations() -> int:
    """The most operations a program may expand to: ``pyqml.memory_limit() // BYTES_PER_OP``."""
    return max(1, int(_core.memory_limit() // BYTES_PER_OP))


_FUNCS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log, "sqrt": math.sqrt,
}
_RESERVED = {"OPENQASM", "include", "qreg", "creg", "gate", "opaque", "measure", "reset", "barrier", "if",
             "pi", "U", "CX"} | set(_FUNCS)

# How many enclosing calls an error message lists (innermost first) before eliding the rest.
_CALLS_SHOWN = 4


@dataclass
class GateDef:
    """A user gate after checking: ``body`` None for ``opaque``. ``n_ops`` operations and ``n_evals``
    expression nodes evaluated per call."""

    name: str
    params: list[str]
    qubits: list[str]
    body: list[GateCall] | None
    line: int
    col: int
    n_ops: int = 0
    n_evals: int = 0


@dataclass
class _Frame:
    """One user gate being expanded: where it is in its body, its parameters and qubits, its call."""

    gate: GateDef
    env: dict[str, Affine]
    qmap: dict[str, int]
    call: GateCall
    pos: int = 0


@dataclass
class _State:
    trainable: bool
    qregs: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, size)
    cregs: dict[str, int] = field(default_factory=dict)
    gates: dict[str, GateDef | LibGate] = field(default_factory=dict)
    n_qubits: int = 0
    defaults: list[float] = field(default_factory=list)
    measured: dict[int, int] = field(default_factory=dict)  # wire -> line of its measurement
    included: bool = False
    n_ops: int = 0  # operations the statements so far expand to
    n_evals: int = 0  # expression nodes they evaluate


class Interpreter:
    """Runs a :class:`~pyqml.io.qasm.parser.Program`, creating one pyqml operation per emitted gate.

    The operations are created with the ``pyqml.ops`` gate classes, so they are recorded by whichever
    recorder is active (``circuit_from_qasm`` installs its own).
    """

    def __init__(self, program: Program, trainable: bool, max_ops: int | None = None):
        self.program = program
        self.state = _State(trainable)
        self.state.gates.update(BUILTIN_GATES)
        self.max_ops = max_operations() if max_ops is None else max_ops
        self.frames: list[_Frame] = []

    # --- expressions ---
    def evaluate(self, e: Expr, env: dict[str, Affine]) -> Affine:
        """The value of ``e`` with the gate parameters ``env``: a post-order walk with a value stack."""
        vals: list[Affine] = []
        for node in postfix(e):
            k = node.kind
            if k in ("num", "pi"):
                vals.append(Affine(node.value))
            elif k == "id":
                if node.name not in env:
                    where = "in this gate's parameters" if env else "here (only numbers and pi at the top level)"
                    raise QASMError(f"unknown parameter '{node.name}': not defined {where}", node.line, node.col)
                vals.append(env[node.name])
            elif k == "neg":
                vals[-1] = -vals[-1]
            elif k == "call":
                vals[-1] = self._function(node, vals[-1])
            else:
                b = vals.pop()
                vals[-1] = self._binary(node, vals[-1], b)
        return vals[0]

    def _function(self, e: Expr, a: Affine) -> Affine:
        if not a.is_const:
            raise self._not_affine(e, f"{e.name}() of a trainable angle")
        try:
            v = _FUNCS[e.name](a.const)
        except (ValueError, OverflowError):
            raise QASMError(f"{e.name}({a.const:g}) is undefined", e.line, e.col) from None
        return Affine(v)

    def _binary(self, e: Expr, a: Affine, b: Affine) -> Affine:
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
        # "^"
        if not (a.is_const and b.is_const):
            raise self._not_affine(e, "a power of a trainable angle")
        try:
            v = a.const ** b.const
        except (ZeroDivisionError, OverflowError):
            raise QASMError(f"{a.const:g}^{b.const:g} is undefined", e.line, e.col) from None
        if isinstance(v, complex):
            raise QASMError(f"{a.const:g}^{b.const:g} is not a real number", e.line, e.col)
        return Affine(v)

    @staticmethod
    def _not_affine(e: Expr, what: str) -> QASMError:
        return QASMError(
            f"with trainable=True every gate angle must be an affine function a*w + b of one weight; "
            f"this expression is {what}", e.line, e.col)

    # --- statements ---
    def run(self) -> _State:
        for st in self.program.statements:
            if isinstance(st, GateCall):
                self.apply_top(st)
            elif isinstance(st, RegDecl):
                self.register(st)
            elif isinstance(st, GateDecl):
                self.gate_definition(st)
            elif isinstance(st, Measure):
                self.measure(st)
            elif isinstance(st, Barrier):
                for a in st.args:
                    self.qubits(a)  # checked, no effect on the state
            elif isinstance(st, Include):
                self.include(st.file)
            else:  # pragma: no cover - the parser makes no other statements
                raise AssertionError(type(st))
        if self.state.n_qubits == 0:
            end = self.program.end
            raise QASMError("the program declares no qubits (no 'qreg')", end.line, end.col)
        return self.state

    def include(self, s: Token) -> None:
        if s.text[1:-1] != "qelib1.inc":
            raise QASMError(f"cannot include {s.text}: only \"qelib1.inc\" is available", s.line, s.col)
        if not self.state.included:
            for name, g in QELIB1_GATES.items():
                if name in self.state.gates:
                    raise QASMError(f"qelib1.inc redefines gate '{name}', already defined", s.line, s.col)
                self.state.gates[name] = g
            self.state.included = True

    def register(self, st: RegDecl) -> None:
        self._check_new_name(st.name)
        name, size, size_tok = st.name.text, st.size, st.size_token
        if size < 1:
            raise QASMError(f"register '{name}' must have at least one bit", size_tok.line, size_tok.col)
        if st.kind == "qreg":
            total = self.state.n_qubits + size
            if total > MAX_QUBITS:
                raise QASMError(f"qreg {name}[{size}] makes {total} qubits, over the limit of {MAX_QUBITS} "
                                "(pyqml.io.qasm.MAX_QUBITS)", size_tok.line, size_tok.col)
            self.state.qregs[name] = (self.state.n_qubits, size)
            self.state.n_qubits = total
        else:
            if size > MAX_QUBITS:
                raise QASMError(f"creg {name}[{size}] has more than {MAX_QUBITS} bits "
                                "(pyqml.io.qasm.MAX_QUBITS)", size_tok.line, size_tok.col)
            self.state.cregs[name] = size

    def _check_new_name(self, tok: Token) -> None:
        n = tok.text
        if n in _RESERVED:
            raise QASMError(f"'{n}' is a reserved word and cannot be a name", tok.line, tok.col)
        if n in self.state.qregs or n in self.state.cregs or n in self.state.gates:
            raise QASMError(f"'{n}' is already declared", tok.line, tok.col)

    def gate_definition(self, st: GateDecl) -> None:
        name = st.name
        self._check_new_name(name)
        seen: set[str] = set()
        for tok in st.params + st.qubits:
            if tok.text in seen:
                raise QASMError(f"'{tok.text}' is repeated in the declaration of gate '{name.text}'",
                                tok.line, tok.col)
            if tok.text in _RESERVED:
                raise QASMError(f"'{tok.text}' is a reserved word and cannot be a name", tok.line, tok.col)
            seen.add(tok.text)
        pnames = [x.text for x in st.params]
        qnames = [x.text for x in st.qubits]
        kw = st.keyword
        if st.body is None:
            self.state.gates[name.text] = GateDef(name.text, pnames, qnames, None, kw.line, kw.col)
            return
        body: list[GateCall] = []
        n_ops = n_evals = 0
        for item in st.body:
            if isinstance(item, Barrier):
                for a in item.args:
                    if a.index is not None or a.name not in qnames:
                        raise QASMError(f"barrier in gate '{name.text}' may only name its qubit arguments",
                                        a.line, a.col)
                continue
            callee = self._check_body_call(item, name.text, pnames, qnames)
            n_ops += callee.n_ops
            n_evals += callee.n_evals + sum(len(postfix(e)) for e in item.params)
            body.append(item)
        self.state.gates[name.text] = GateDef(name.text, pnames, qnames, body, kw.line, kw.col, n_ops, n_evals)

    def _check_body_call(self, call: GateCall, owner: str, pnames: list[str], qnames: list[str]):
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
            for node in postfix(e):
                if node.kind == "id" and node.name not in pnames:
                    raise QASMError(f"unknown parameter '{node.name}' in gate '{owner}'", node.line, node.col)
        return g

    def _lookup(self, call: GateCall):
        g = self.state.gates.get(call.name)
        if g is None:
            hint = ""
            if call.name in QELIB1_GATES and not self.state.included:
                hint = ' (it is in qelib1.inc: add include "qelib1.inc";)'
            elif call.name in self.state.qregs or call.name in self.state.cregs:
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
        reg = self.state.qregs.get(a.name)
        if reg is None:
            extra = " (it is a classical register)" if a.name in self.state.cregs else ""
            raise QASMError(f"undeclared quantum register '{a.name}'{extra}", a.line, a.col)
        off, size = reg
        if a.index is None:
            return list(range(off, off + size))
        if a.index >= size:
            raise QASMError(f"index {a.index} is out of range for qreg {a.name}[{size}]", a.line, a.col)
        return [off + a.index]

    def measure(self, st: Measure) -> None:
        q, c, kw = st.qubit, st.bit, st.keyword
        qs = self.qubits(q)
        if c.name not in self.state.cregs:
            extra = " (it is a quantum register)" if c.name in self.state.qregs else ""
            raise QASMError(f"undeclared classical register '{c.name}'{extra}", c.line, c.col)
        csize = self.state.cregs[c.name]
        if c.index is not None and c.index >= csize:
            raise QASMError(f"index {c.index} is out of range for creg {c.name}[{csize}]", c.line, c.col)
        n_c = 1 if c.index is not None else csize
        if len(qs) != n_c:
            raise QASMError(f"measure maps {len(qs)} qubit(s) to {n_c} bit(s)", kw.line, kw.col)
        for w in qs:
            self.state.measured.setdefault(w, kw.line)

    def apply_top(self, call: GateCall) -> None:
        g = self._lookup(call)
        self._check_arity(call, g)
        if isinstance(g, GateDef) and g.body is None:
            raise QASMError(f"gate '{call.name}' is opaque (declared at line {g.line}) and cannot be "
                            "simulated", call.line, call.col)
        # parameters: numbers here; with trainable=True each becomes a fresh weight
        params: list[Affine] = []
        for e in call.params:
            v = self.evaluate(e, {})
            if not math.isfinite(v.const):
                raise QASMError(f"parameter '{e.text}' of '{call.name}' is {v.const}: angles must be finite",
                                e.line, e.col)
            if self.state.trainable:
                k = len(self.state.defaults)
                self.state.defaults.append(v.const)
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
        self._reserve(call, g, reps)
        for r in range(reps):
            wires = [ws[r] if a.index is None else ws[0] for a, ws in zip(call.args, lists)]
            if len(set(wires)) != len(wires):
                raise QASMError(f"'{call.name}' is applied to the same qubit twice (wires {wires})",
                                call.line, call.col)
            for w in wires:
                if w in self.state.measured:
                    raise QASMError(
                        f"'{call.name}' acts on qubit {self._wire_name(w)} after it was measured (line "
                        f"{self.state.measured[w]}): mid-circuit measurement is not supported by a "
                        "pure-state simulator", call.line, call.col)
            self.expand(g, params, wires, call)

    def _reserve(self, call: GateCall, g, reps: int) -> None:
        """Count what this statement expands to before expanding it; refuse past the limits."""
        n_ops = reps * g.n_ops
        n_evals = reps * g.n_evals
        st = self.state
        limit = self.max_ops
        how = (f"the limit of {limit} operations is pyqml.memory_limit() ({int(_core.memory_limit())} bytes) "
               f"/ {BYTES_PER_OP} bytes per operation; raise it with pyqml.set_memory_limit")
        each = f" ({reps} applications of {g.n_ops})" if reps > 1 else ""
        if st.n_ops + n_ops > limit:
            raise QASMError(f"'{call.name}' expands to {n_ops} operations{each}, which with the {st.n_ops} "
                            f"before it is more than the program may expand to: {how}", call.line, call.col)
        if st.n_evals + n_evals > limit:
            raise QASMError(f"'{call.name}' evaluates {n_evals} parameter-expression nodes while expanding, "
                            f"which with the {st.n_evals} before it is more than the {limit} allowed "
                            f"(as many as operations: {how})", call.line, call.col)
        st.n_ops += n_ops
        st.n_evals += n_evals

    def _wire_name(self, w: int) -> str:
        for name, (off, size) in self.state.qregs.items():
            if off <= w < off + size:
                return f"{name}[{w - off}]"
        return str(w)  # pragma: no cover

    def expand(self, g, params: list[Affine], wires: list[int], call: GateCall) -> None:
        """Emit the operations of one call, walking nested definitions with an explicit stack."""
        if isinstance(g, LibGate):
            g.expand(lambda name, ps, ws: self.emit(name, ps, ws, call), params, wires)
            return
        frames = self.frames
        frames.append(_Frame(g, dict(zip(g.params, params)), dict(zip(g.qubits, wires)), call))
        try:
            while frames:
                f = frames[-1]
                if f.pos == len(f.gate.body):
                    frames.pop()
                    continue
                sub = f.gate.body[f.pos]
                f.pos += 1
                callee = self.state.gates[sub.name]
                sub_params = [self._evaluate_in(e, f.env) for e in sub.params]
                sub_wires = [f.qmap[a.name] for a in sub.args]
                if isinstance(callee, LibGate):
                    callee.expand(lambda name, ps, ws, sub=sub: self.emit(name, ps, ws, sub), sub_params,
                                  sub_wires)
                elif callee.body is None:
                    raise QASMError(f"gate '{sub.name}' is opaque (declared at line {callee.line}) and cannot "
                                    "be simulated" + self._called_from(), sub.line, sub.col)
                else:
                    frames.append(_Frame(callee, dict(zip(callee.params, sub_params)),
                                         dict(zip(callee.qubits, sub_wires)), sub))
        finally:
            frames.clear()

    def _evaluate_in(self, e: Expr, env: dict[str, Affine]) -> Affine:
        try:
            return self.evaluate(e, env)
        except QASMError as err:
            raise QASMError(err.reason + self._called_from(), err.line, err.column) from None

    def _called_from(self) -> str:
        """`` (in 'g' at line 5, called from 'h' at line 9)`` for the calls being expanded, innermost first."""
        calls = [f.call for f in reversed(self.frames)]
        if not calls:
            return ""
        shown = [f"'{c.name}' at line {c.line}" for c in calls[:_CALLS_SHOWN]]
        if len(calls) > _CALLS_SHOWN:
            shown.append(f"... {len(calls) - _CALLS_SHOWN} more")
        return " (in " + ", called from ".join(shown) + ")"

    def emit(self, name: str, ps: Sequence[Angle], wires: Sequence[int], call: GateCall) -> None:
        values = []
        for a in ps:
            if not isinstance(a, Affine):
                values.append(float(a))
                continue
            if not math.isfinite(a.const) or not all(math.isfinite(c) for c in a.coeffs.values()):
                raise QASMError(f"an angle of '{call.name}' is not finite" + self._called_from(),
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
                    "pyqml traces each angle as a*w + b of one weight" + self._called_from(),
                    call.line, call.col)
        GATES[name](*values, wires=list(wires))
