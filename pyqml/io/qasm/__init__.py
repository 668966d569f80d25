"""OpenQASM 2.0 import: ``circuit_from_qasm(source, trainable=False) -> Circuit``.

``source`` is the program text, a path to a ``.qasm`` file (a ``str`` ending in ``.qasm``), or a
:class:`pathlib.Path` (any name). The reader is a pipeline: :mod:`~pyqml.io.qasm.lexer` (tokens with
line and column), :mod:`~pyqml.io.qasm.parser` (syntax tree), :mod:`~pyqml.io.qasm.interpreter`
(registers, gate definitions, expansion into pyqml operations) and :mod:`~pyqml.io.qasm.qelib1` (the
library gates).

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

Limits
------
Every problem in the source, however large or deeply nested, is a :class:`QASMError` naming its line
and column: the parser and the expansion never recurse on the input, integers of more than 18 digits are
refused as they are read, and a program is sized before it is expanded (a gate definition knows how
many operations one call emits; a broadcast multiplies). At most :data:`MAX_QUBITS` (2^20) qubits, and
at most :func:`max_operations` operations (``pyqml.memory_limit() // BYTES_PER_OP``, with
``BYTES_PER_OP`` = 1024 bytes, the measured peak cost of one imported operation), as many statements and
as many parameter-expression nodes evaluated during expansion: ``qreg q[100000000];`` or a chain of gates
that each call the one before twice is refused at the statement that crosses a limit, in time
proportional to the file's length. :func:`pyqml.set_memory_limit` raises the operation limit.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...frontend import recording
from .errors import QASMError
from .interpreter import BYTES_PER_OP, MAX_QUBITS, GateDef, Interpreter, max_operations
from .lexer import Token, iter_tokens, tokenize
from .parser import Arg, Expr, GateCall, Program, parse
from .qelib1 import BUILTIN_GATES, QELIB1_GATES, Affine, LibGate

__all__ = ["Affine", "Arg", "BUILTIN_GATES", "BYTES_PER_OP", "Expr", "GateCall", "GateDef", "LibGate",
           "MAX_QUBITS", "Program", "QASMError", "QELIB1_GATES", "Token", "circuit_from_qasm", "iter_tokens",
           "max_operations", "parse", "read_source", "tokenize"]

_SOURCE_KINDS = "the program text (a str), a path to a .qasm file (a str ending in .qasm) or a pathlib.Path"


class _Collector:
    """A recorder that keeps the operations built during import out of any circuit being recorded."""

    def __init__(self):
        self.ops: list = []

    def record(self, op) -> None:
        self.ops.append(op)

    def discard(self, op) -> None:  # pragma: no cover - ops here are never used as observables
        self.ops = [o for o in self.ops if o is not op]


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and ";" not in text


def read_source(source) -> tuple[str, str | None]:
    """``(text, filename)`` of a QASM source: the text itself (filename None) or a file's contents.

    A ``str`` is a path when it ends in ``.qasm`` and holds no ``;`` and no line break (no program
    does); any :class:`os.PathLike` is a path.

    Raises
    ------
    TypeError
        For anything else (bytes, numbers, open files).
    FileNotFoundError
        For a path with no file behind it.
    QASMError
        For a file that is not UTF-8 text, with the line and column of the first bad byte.
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str):
        if not (_looks_like_path(source) and source.strip().lower().endswith(".qasm")):
            return source, None
        path = Path(source.strip())
    else:
        raise TypeError(f"QASM source must be a str or a path: {_SOURCE_KINDS}; got {type(source).__name__}")
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"QASM file '{path}' {what} (from_qasm takes {_SOURCE_KINDS})")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), str(path)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise QASMError(f"the file is not UTF-8 text (byte 0x{data[err.start]:02x})", line, col,
                        filename=str(path)) from None


def circuit_from_qasm(source, trainable: bool = False):
    """A :class:`pyqml.Circuit` from OpenQASM 2.0 source.

    Parameters
    ----------
    source : str or os.PathLike
        The program (``OPENQASM 2.0;`` first, usually ``include "qelib1.inc";`` next), or a path to a file
        holding it: a ``str`` ending in ``.qasm``, or a :class:`pathlib.Path`.
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
        For any syntax or semantic problem, or a program over the limits (:data:`MAX_QUBITS`,
        :func:`max_operations`), with its line and column (and the file name for a file).
    FileNotFoundError
        For a path that does not lead to a file.
    TypeError
        For a source that is neither text nor a path.
    """
    from ...frontend.circuit import Circuit

    text, filename = read_source(source)
    max_ops = max_operations()
    collector = _Collector()
    try:
        program = parse(text, max_statements=max_ops)
        interp = Interpreter(program, bool(trainable), max_ops)
        recording.push(collector)
        try:
            state = interp.run()
        finally:
            recording.pop(collector)
    except QASMError as err:
        if filename is not None:
            raise QASMError(err.reason, err.line, err.column, filename=filename) from None
        if err.line == 1 and _looks_like_path(text) and os.path.isfile(text.strip()):
            raise QASMError(f"{err.reason}; '{text.strip()}' names a file: pass pathlib.Path('{text.strip()}') "
                            "to read it", err.line, err.column) from None
        raise
    if trainable:
        return Circuit(state.n_qubits, collector.ops, n_weights=len(state.defaults),
                       weights=np.array(state.defaults, dtype=float))
    return Circuit(state.n_qubits, collector.ops)
