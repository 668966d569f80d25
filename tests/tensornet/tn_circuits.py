"""Random circuits over every gate of the engine's table for the tensor-network tests, built both as a
pyqml Circuit and as dense matrices for tests/dense_reference.py (which never calls the engine)."""
from __future__ import annotations

import dense_reference as ref
import numpy as np

import pyqml as pq
from pyqml import _core

GATES = {g["name"]: g for g in _core.gate_table()}
NAMES = sorted(GATES)


class RandomCircuit:
    """Random gates on n wires; each angle is a constant, a fresh weight or ``a * x[j] + b`` of an input.

    ``spec`` lists (name, wires, [(kind, index, scale, offset)], matrix or None); ``state(w, x)`` is the
    dense reference state for weights w and one input row x.
    """

    def __init__(self, n: int, n_gates: int, rng: np.random.Generator, n_inputs: int = 0, names=None):
        self.n, self.n_inputs, self.n_weights = n, n_inputs, 0
        pool = [g for g in (names or NAMES) if GATES[g]["n_wires"] <= n]
        self.spec = []
        for _ in range(n_gates):
            name = pool[int(rng.integers(len(pool)))]
            k = GATES[name]["n_wires"]
            if k <= 0:  # variable width: MultiRZ any, QubitUnitary 1..3
                k = int(rng.integers(1, (min(n, 3) if name == "QubitUnitary" else n) + 1))
            wires = [int(v) for v in rng.permutation(n)[:k]]
            params = []
            for _ in range(GATES[name]["n_params"]):
                u = rng.random()
                if u < 0.45:
                    params.append((1, self.n_weights, 1.0, 0.0))
                    self.n_weights += 1
                elif n_inputs and u < 0.8:
                    params.append((2, int(rng.integers(n_inputs)), float(rng.uniform(-2, 2)),
                                   float(rng.uniform(-1, 1))))
                else:
                    params.append((0, 0, 1.0, float(rng.uniform(-np.pi, np.pi))))
            U = ref.random_unitary(2**k, rng) if name == "QubitUnitary" else None
            self.spec.append((name, wires, params, U))

    def circuit(self) -> pq.Circuit:
        c = pq.Circuit(self.n)
        w = c.new_weights(self.n_weights) if self.n_weights else None
        x = c.new_inputs(self.n_inputs) if self.n_inputs else None
        with c:
            for name, wires, params, U in self.spec:
                if name == "QubitUnitary":
                    pq.QubitUnitary(U, wires=wires)
                    continue
                vals = [off if kind == 0 else (w[i] if kind == 1 else x[i]) * sc + off
                        for kind, i, sc, off in params]
                pq.GATES[name](*vals, wires=wires)
        return c

    def state(self, w=None, x=None) -> np.ndarray:
        gates = []
        for name, wires, params, U in self.spec:
            if U is None:
                ang = [off if kind == 0 else sc * (w if kind == 1 else x)[i] + off for kind, i, sc, off in params]
                U = ref.gate_matrix(name, ang, len(wires))
            gates.append((U, wires))
        return ref.simulate(self.n, gates)


def random_pauli_sum(n: int, rng: np.random.Generator, n_terms: int = 4):
    """(Observable, [(coeff, {wire: letter})]) for a random real-weighted sum of Pauli words."""
    obs, terms = pq.Observable(), []
    for _ in range(n_terms):
        wires = [int(v) for v in rng.permutation(n)[: int(rng.integers(1, min(n, 4) + 1))]]
        word = {v: "XYZ"[int(rng.integers(3))] for v in wires}
        c = float(rng.normal())
        terms.append((c, word))
        obs = obs + pq.Observable({tuple(sorted(word.items())): c})
    return obs, terms
