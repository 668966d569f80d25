"""Noisy circuits built twice: as a pyqml Circuit (gates and channels) and as a dense numpy density-matrix
simulation with its own Kraus matrices (PennyLane's conventions, written out here independently of the
engine's table). Parameters may be constants, weights or affine inputs, as in random_circuits.py."""
from __future__ import annotations

import dense_reference as ref
import numpy as np

import pyqml as pq

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.diag([1.0 + 0j, -1.0])
PAULI = {"I": I2, "X": X, "Y": Y, "Z": Z}


def kraus(name: str, params, n_wires: int = 1, letters: str | None = None) -> list[np.ndarray]:
    """Kraus matrices of a channel (PennyLane's definitions)."""
    if name == "BitFlip":
        (p,) = params
        return [np.sqrt(1 - p) * I2, np.sqrt(p) * X]
    if name == "PhaseFlip":
        (p,) = params
        return [np.sqrt(1 - p) * I2, np.sqrt(p) * Z]
    if name == "DepolarizingChannel":
        (p,) = params
        return [np.sqrt(1 - p) * I2] + [np.sqrt(p / 3) * P for P in (X, Y, Z)]
    if name == "AmplitudeDamping":
        (g,) = params
        return [np.array([[1, 0], [0, np.sqrt(1 - g)]], dtype=complex),
                np.array([[0, np.sqrt(g)], [0, 0]], dtype=complex)]
    if name == "PhaseDamping":
        (g,) = params
        return [np.array([[1, 0], [0, np.sqrt(1 - g)]], dtype=complex),
                np.array([[0, 0], [0, np.sqrt(g)]], dtype=complex)]
    if name == "GeneralizedAmplitudeDamping":
        # PennyLane 0.45: p is the excited population of the fixed point (damping towards |0> weighs 1 - p).
        g, p = params
        return [np.sqrt(1 - p) * np.array([[1, 0], [0, np.sqrt(1 - g)]], dtype=complex),
                np.sqrt(1 - p) * np.array([[0, np.sqrt(g)], [0, 0]], dtype=complex),
                np.sqrt(p) * np.array([[np.sqrt(1 - g), 0], [0, 1]], dtype=complex),
                np.sqrt(p) * np.array([[0, 0], [np.sqrt(g), 0]], dtype=complex)]
    if name == "PauliError":
        (p,) = params
        P = ref.kron(*[PAULI[c] for c in letters])
        return [np.sqrt(1 - p) * np.eye(2 ** len(letters), dtype=complex), np.sqrt(p) * P]
    raise KeyError(name)


CHANNELS = {"BitFlip": 1, "PhaseFlip": 1, "DepolarizingChannel": 1, "AmplitudeDamping": 1, "PhaseDamping": 1,
            "GeneralizedAmplitudeDamping": 2}


def apply_dm(rho: np.ndarray, K: np.ndarray, wires, n: int) -> np.ndarray:
    """K rho K^dag on the given wires of an n-wire density matrix (2^n x 2^n)."""
    k = len(wires)
    T = rho.reshape((2,) * (2 * n))
    Kt = K.reshape((2,) * (2 * k))
    out = np.tensordot(Kt, T, axes=(list(range(k, 2 * k)), list(wires)))
    out = np.moveaxis(out, list(range(k)), list(wires))
    Bt = K.conj().reshape((2,) * (2 * k))
    bw = [n + w for w in wires]
    out = np.tensordot(Bt, out, axes=(list(range(k, 2 * k)), bw))
    out = np.moveaxis(out, list(range(k)), bw)
    return out.reshape(2**n, 2**n)


class NoisyCircuit:
    """ops: list of (name, wires, params) with params [(kind, index, scale, offset)] (0 const, 1 weight,
    2 input) and, for PauliError, its letters as a 4th element."""

    def __init__(self, n: int, ops, n_weights: int = 0, n_inputs: int = 0):
        self.n, self.ops, self.n_weights, self.n_inputs = n, list(ops), n_weights, n_inputs

    def circuit(self) -> pq.Circuit:
        c = pq.Circuit(self.n)
        w = c.new_weights(self.n_weights) if self.n_weights else []
        x = c.new_inputs(self.n_inputs) if self.n_inputs else []
        with c:
            for op in self.ops:
                name, wires, params = op[:3]
                vals = [off if kind == 0 else (w[idx] * scale + off if kind == 1 else scale * x[idx] + off)
                        for kind, idx, scale, off in params]
                if name == "PauliError":
                    pq.PauliError(op[3], *vals, wires=wires)
                elif name in CHANNELS:
                    getattr(pq, name)(*vals, wires=wires)
                else:
                    pq.GATES[name](*vals, wires=wires)
        return c

    @staticmethod
    def values(params, w, x):
        src = {1: w, 2: x}
        return [off if kind == 0 else scale * src[kind][idx] + off for kind, idx, scale, off in params]

    def density_matrix(self, w=None, x=None, derivative: tuple[int, int, float] | None = None) -> np.ndarray:
        """rho of the circuit; with derivative=(op, param, h) the op's parameter is shifted by h (for
        central differences of channel parameters)."""
        n = self.n
        rho = np.zeros((2**n, 2**n), dtype=complex)
        rho[0, 0] = 1
        for j, op in enumerate(self.ops):
            name, wires, params = op[:3]
            vals = self.values(params, w, x)
            if derivative is not None and derivative[0] == j:
                vals[derivative[1]] += derivative[2]
            if name in CHANNELS or name == "PauliError":
                Ks = kraus(name, vals, len(wires), op[3] if name == "PauliError" else None)
                rho = sum(apply_dm(rho, K, wires, n) for K in Ks)
            else:
                rho = apply_dm(rho, ref.gate_matrix(name, vals, len(wires)), wires, n)
        return rho

    def expval(self, terms, w=None, x=None, **kw) -> float:
        """sum_c coeff * Tr(P rho) for terms [(coeff, {wire: letter})]."""
        rho = self.density_matrix(w, x, **kw)
        return sum(coeff * float(np.real(np.trace(ref.pauli_matrix([(1.0, word)], self.n) @ rho)))
                   for coeff, word in terms)
