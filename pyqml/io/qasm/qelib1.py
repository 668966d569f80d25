"""The gates a QASM program can call without defining them: the built-ins ``U`` and ``CX`` and every gate
of qelib1.inc, each as an expansion into pyqml operations (see :mod:`pyqml.io.qasm` for the conventions),
and :class:`Affine`, the value of a parameter expression.

Each :class:`LibGate` knows how many operations one application emits (``n_ops``, counted once when this
module loads), so the interpreter can size a program before expanding it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Union

__all__ = ["Affine", "Angle", "BUILTIN_GATES", "Emit", "LibGate", "QELIB1_GATES"]


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


# A parameter handed to a pyqml gate: a number or an Affine (turned into a Param when emitted).
Angle = Union[float, Affine]
# emit(gate_name, params, wires) adds one pyqml operation.
Emit = Callable[[str, Sequence[Angle], Sequence[int]], None]


def _half(a: Affine) -> Affine:
    return a.scaled(0.5)


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
    """A library gate: its signature and ``expand(emit, params, wires)``; ``n_ops`` operations per call."""

    n_params: int
    n_qubits: int
    expand: Callable[[Emit, Sequence[Affine], Sequence[int]], None]
    n_ops: int = field(init=False)
    n_evals: int = field(default=0, init=False)  # expressions of the file evaluated per call: none

    def __post_init__(self) -> None:
        count = [0]

        def emit(name: str, ps: Sequence[Angle], ws: Sequence[int]) -> None:
            count[0] += 1

        self.expand(emit, [Affine(0.0)] * self.n_params, list(range(self.n_qubits)))
        self.n_ops = count[0]


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
