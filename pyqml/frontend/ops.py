"""Gates, with PennyLane's names, signatures and conventions.

The gate table lives in the C++ engine (``pyqml._core.gate_table()``); this module only gives each gate a
Python constructor. Calling a gate inside a traced function (``pq.qnode``) or a ``with Circuit(...)`` block
records it; outside, it simply builds an :class:`Operation`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .. import _core
from .params import Param, param_ref
from .recording import active_recorder

_TABLE = {g["name"]: g for g in _core.gate_table()}


def _wires_tuple(wires) -> tuple[int, ...]:
    if isinstance(wires, (int, np.integer)):
        return (int(wires),)
    try:
        ws = tuple(wires)
    except TypeError:
        raise TypeError(f"wires must be an int or a sequence of ints, got {wires!r}") from None
    out = []
    for w in ws:
        if not isinstance(w, (int, np.integer)) or isinstance(w, bool):
            raise TypeError(f"wires must be integers, got {w!r}")
        out.append(int(w))
    return tuple(out)


class Operation:
    """One gate: its name (as in the engine's table), wires and parameters (numbers or traced params)."""

    num_params = 0
    num_wires: int | None = None
    name = "Operation"

    def __init__(self, *params, wires=None, matrix=None):
        if wires is None and len(params) == self.num_params + 1:
            *params, wires = params  # PennyLane also takes wires positionally: RX(0.1, 0), CNOT([0, 1])
        if wires is None:
            raise TypeError(f"{self.name} needs wires=")
        self.wires = _wires_tuple(wires)
        if len(params) != self.num_params:
            raise TypeError(f"{self.name} takes {self.num_params} parameter(s), got {len(params)}")
        if self.num_wires is not None and len(self.wires) != self.num_wires:
            raise ValueError(f"{self.name} acts on {self.num_wires} wire(s), got wires={list(self.wires)}")
        if len(set(self.wires)) != len(self.wires):
            raise ValueError(f"{self.name}: wires {list(self.wires)} are repeated")
        for w in self.wires:
            if w < 0:
                raise ValueError(f"{self.name}: wire {w} is negative")
        self.params = [p if isinstance(p, Param) else _scalar(p, self.name) for p in params]
        self.matrix = matrix
        rec = active_recorder()
        if rec is not None:
            rec.record(self)

    def param_refs(self) -> list[tuple[int, int, float, float]]:
        return [param_ref(p) for p in self.params]

    def core_tuple(self):
        return (self.name, list(self.wires), self.param_refs(), self.matrix)

    # An operation named like a Pauli (PauliX, ...) doubles as an observable, as in PennyLane.
    def _observable(self):
        from .observables import observable_from_op

        return observable_from_op(self)

    def __matmul__(self, other):
        return self._observable() @ other

    def __rmatmul__(self, other):
        return other @ self._observable()

    def __mul__(self, other):
        return self._observable() * other

    __rmul__ = __mul__

    def __add__(self, other):
        return self._observable() + other

    __radd__ = __add__

    def __sub__(self, other):
        return self._observable() - other

    def __neg__(self):
        return -self._observable()

    def __repr__(self) -> str:
        ps = ", ".join(repr(p) for p in self.params)
        return f"{self.name}({ps + ', ' if ps else ''}wires={list(self.wires)})"


def _scalar(p, name: str) -> float:
    arr = np.asarray(p)
    if arr.dtype == object and arr.shape == ():
        return arr.item()
    if arr.shape != ():
        raise TypeError(f"{name}: each parameter must be a scalar, got an array of shape {arr.shape}")
    if not np.isrealobj(arr):
        raise TypeError(f"{name}: parameters must be real, got {p!r}")
    v = float(arr)
    if not np.isfinite(v):
        raise ValueError(f"{name}: parameter is {v}; angles must be finite")
    return v


def _make(name: str, doc: str) -> type:
    g = _TABLE[name]
    attrs = {
        "name": name,
        "num_params": g["n_params"],
        "num_wires": g["n_wires"] if g["n_wires"] > 0 else None,
        "__doc__": doc,
    }
    return type(name, (Operation,), attrs)


Identity = _make("Identity", "Identity on one wire.")
Hadamard = _make("Hadamard", "Hadamard gate.")
PauliX = _make("PauliX", "Pauli X (also an observable).")
PauliY = _make("PauliY", "Pauli Y (also an observable).")
PauliZ = _make("PauliZ", "Pauli Z (also an observable).")
S = _make("S", "Phase gate diag(1, i).")
Sdg = _make("Sdg", "Adjoint of S.")
T = _make("T", "diag(1, e^{i pi/4}).")
Tdg = _make("Tdg", "Adjoint of T.")
SX = _make("SX", "Square root of X.")
SXdg = _make("SXdg", "Adjoint of SX.")
RX = _make("RX", "RX(phi) = exp(-i phi X / 2).")
RY = _make("RY", "RY(phi) = exp(-i phi Y / 2).")
RZ = _make("RZ", "RZ(phi) = exp(-i phi Z / 2).")
PhaseShift = _make("PhaseShift", "diag(1, e^{i phi}).")
Rot = _make("Rot", "Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi).")
U3 = _make("U3", "U3(theta, phi, delta) = [[c, -e^{i delta} s], [e^{i phi} s, e^{i(phi+delta)} c]].")
CNOT = _make("CNOT", "Controlled X; wires = [control, target].")
CY = _make("CY", "Controlled Y.")
CZ = _make("CZ", "Controlled Z.")
CH = _make("CH", "Controlled Hadamard.")
SWAP = _make("SWAP", "Swap two wires.")
ISWAP = _make("ISWAP", "i-swap.")
CRX = _make("CRX", "Controlled RX.")
CRY = _make("CRY", "Controlled RY.")
CRZ = _make("CRZ", "Controlled RZ.")
CRot = _make("CRot", "Controlled Rot.")
ControlledPhaseShift = _make("ControlledPhaseShift", "diag(1, 1, 1, e^{i phi}).")
IsingXX = _make("IsingXX", "exp(-i phi X X / 2).")
IsingYY = _make("IsingYY", "exp(-i phi Y Y / 2).")
IsingZZ = _make("IsingZZ", "exp(-i phi Z Z / 2).")
MultiRZ = _make("MultiRZ", "exp(-i theta Z...Z / 2) on any number of wires.")
Toffoli = _make("Toffoli", "Doubly controlled X.")
CSWAP = _make("CSWAP", "Controlled swap.")

# PennyLane's short aliases.
X, Y, Z, H, I = PauliX, PauliY, PauliZ, Hadamard, Identity
CPhase = ControlledPhaseShift


class QubitUnitary(Operation):
    """Any unitary on 1 to 3 wires (checked for unitarity to 1e-8)."""

    name = "QubitUnitary"
    num_params = 0

    def __init__(self, U, wires):
        ws = _wires_tuple(wires)
        m = np.asarray(U, dtype=complex)
        dim = 2 ** len(ws)
        if not 1 <= len(ws) <= 3:
            raise ValueError(f"QubitUnitary acts on 1 to 3 wires, got {len(ws)}")
        if m.shape != (dim, dim):
            raise ValueError(f"QubitUnitary on {len(ws)} wire(s) needs a {dim}x{dim} matrix, got shape {m.shape}")
        err = np.abs(m.conj().T @ m - np.eye(dim)).max()
        if not err < 1e-8:
            raise ValueError(f"QubitUnitary: matrix is not unitary (max |U^dag U - 1| = {err:.3g})")
        super().__init__(wires=ws, matrix=np.ascontiguousarray(m))


GATES: dict[str, type] = {
    cls.name: cls
    for cls in [Identity, Hadamard, PauliX, PauliY, PauliZ, S, Sdg, T, Tdg, SX, SXdg, RX, RY, RZ, PhaseShift,
                Rot, U3, CNOT, CY, CZ, CH, SWAP, ISWAP, CRX, CRY, CRZ, CRot, ControlledPhaseShift, IsingXX,
                IsingYY, IsingZZ, MultiRZ, Toffoli, CSWAP, QubitUnitary]
}


def gate_matrix(name: str, params: Sequence[float] = (), n_wires: int = 0) -> np.ndarray:
    """The engine's full matrix of a gate (controls included), for inspection and tests."""
    return _core.gate_matrix(name, [float(p) for p in params], n_wires)


def wires_of(ops: Iterable[Operation]) -> set[int]:
    return {w for op in ops for w in op.wires}
