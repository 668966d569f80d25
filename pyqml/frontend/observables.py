"""Observables: real-weighted sums of Pauli strings.

``pq.Z(0) @ pq.Z(1)``, ``0.5 * pq.X(2) + pq.Y(3)`` and ``pq.Hamiltonian(coeffs, obs)`` all build an
:class:`Observable`. Products on a shared wire follow the Pauli algebra (``X @ Y = iZ``); an observable must
end with real coefficients to be measured.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np

from .recording import active_recorder

# Single-qubit Pauli products: (a, b) -> (phase, letter), a @ b.
_PRODUCT = {
    ("I", "I"): (1, "I"), ("I", "X"): (1, "X"), ("I", "Y"): (1, "Y"), ("I", "Z"): (1, "Z"),
    ("X", "I"): (1, "X"), ("X", "X"): (1, "I"), ("X", "Y"): (1j, "Z"), ("X", "Z"): (-1j, "Y"),
    ("Y", "I"): (1, "Y"), ("Y", "X"): (-1j, "Z"), ("Y", "Y"): (1, "I"), ("Y", "Z"): (1j, "X"),
    ("Z", "I"): (1, "Z"), ("Z", "X"): (1j, "Y"), ("Z", "Y"): (-1j, "X"), ("Z", "Z"): (1, "I"),
}

Word = tuple  # tuple of (wire, letter) sorted by wire, identity letters dropped


def _mul_words(a: Word, b: Word) -> tuple[complex, Word]:
    d = dict(a)
    phase: complex = 1
    for w, p in b:
        if w in d:
            ph, r = _PRODUCT[(d[w], p)]
            phase *= ph
            if r == "I":
                del d[w]
            else:
                d[w] = r
        else:
            d[w] = p
    return phase, tuple(sorted(d.items()))


class Observable:
    """A sum ``sum_k c_k P_k`` of Pauli words ``P_k`` (products of X, Y, Z on distinct wires)."""

    __array_priority__ = 1000

    def __init__(self, terms: dict | None = None):
        self.terms: dict[Word, complex] = {}
        for w, c in (terms or {}).items():
            if c != 0:
                self.terms[w] = self.terms.get(w, 0) + c

    @classmethod
    def pauli(cls, letter: str, wire: int) -> Observable:
        if letter == "I":
            return cls({(): 1.0})
        return cls({((int(wire), letter),): 1.0})

    # --- algebra ---
    def __add__(self, other):
        other = as_observable(other)
        t = dict(self.terms)
        for w, c in other.terms.items():
            t[w] = t.get(w, 0) + c
        return Observable({w: c for w, c in t.items() if c != 0})

    __radd__ = __add__

    def __neg__(self):
        return Observable({w: -c for w, c in self.terms.items()})

    def __sub__(self, other):
        return self + (-as_observable(other))

    def __rsub__(self, other):
        return as_observable(other) + (-self)

    def __mul__(self, other):
        if isinstance(other, numbers.Number):
            if not np.isfinite(other):
                raise ValueError(f"an observable's coefficient must be finite, got {other}")
            return Observable({w: c * other for w, c in self.terms.items()})
        return NotImplemented

    __rmul__ = __mul__

    def __matmul__(self, other):
        other = as_observable(other)
        out: dict[Word, complex] = {}
        for wa, ca in self.terms.items():
            for wb, cb in other.terms.items():
                ph, w = _mul_words(wa, wb)
                out[w] = out.get(w, 0) + ca * cb * ph
        return Observable({w: c for w, c in out.items() if c != 0})

    def __rmatmul__(self, other):
        return as_observable(other) @ self

    # --- inspection ---
    @property
    def wires(self) -> list[int]:
        return sorted({w for word in self.terms for w, _ in word})

    def core_terms(self) -> list[tuple[float, list[int], str]]:
        """The engine's [(coeff, wires, letters)]; raises ValueError if not Hermitian."""
        out = []
        for word, c in self.terms.items():
            c = complex(c)
            if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)):
                raise ValueError(f"observable {self} is not Hermitian (term {word} has coefficient {c})")
            out.append((c.real, [w for w, _ in word], "".join(p for _, p in word)))
        return out

    def matrix(self, n_wires: int) -> np.ndarray:
        """Dense matrix on n_wires (wire 0 most significant), for tests and small checks."""
        single = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
                  "Z": np.diag([1.0, -1.0])}
        out = np.zeros((2**n_wires, 2**n_wires), dtype=complex)
        for word, c in self.terms.items():
            d = dict(word)
            m = np.array([[1.0]])
            for w in range(n_wires):
                m = np.kron(m, single[d.get(w, "I")])
            out += c * m
        return out

    def __repr__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for word, c in self.terms.items():
            c = complex(c)
            cs = f"{c.real:g}" if c.imag == 0 else f"({c:g})"
            ws = " @ ".join(f"{p}({w})" for w, p in word) or "I"
            parts.append(ws if cs == "1" else f"{cs} * {ws}")
        return " + ".join(parts)

    def __eq__(self, other):
        if not isinstance(other, Observable):
            return NotImplemented
        return self.terms == other.terms

    __hash__ = None


def observable_from_op(op) -> Observable:
    """A PauliX/Y/Z/Identity operation as an observable, removing it from the circuit being recorded."""
    letters = {"PauliX": "X", "PauliY": "Y", "PauliZ": "Z", "Identity": "I"}
    if op.name not in letters:
        raise TypeError(f"{op.name} is not an observable; use PauliX/Y/Z, Identity or their sums and products")
    rec = active_recorder()
    if rec is not None:
        rec.discard(op)
    return Observable.pauli(letters[op.name], op.wires[0])


def as_observable(x) -> Observable:
    from .ops import Operation

    if isinstance(x, Observable):
        return x
    if isinstance(x, Operation):
        return observable_from_op(x)
    if isinstance(x, numbers.Number):
        return Observable({(): x})
    raise TypeError(f"expected an observable (Pauli words and their sums), got {type(x).__name__}")


def Hamiltonian(coeffs: Sequence[float], observables: Iterable) -> Observable:
    """``sum_k coeffs[k] * observables[k]``, as PennyLane's ``qml.Hamiltonian``."""
    obs = list(observables)
    coeffs = list(np.asarray(coeffs, dtype=float).ravel())
    if not np.all(np.isfinite(coeffs)):
        raise ValueError(f"Hamiltonian: coefficients must be finite, got {coeffs}")
    if len(coeffs) != len(obs):
        raise ValueError(f"Hamiltonian: {len(coeffs)} coefficients for {len(obs)} observables")
    total = Observable()
    for c, o in zip(coeffs, obs):
        total = total + c * as_observable(o)
    return total
