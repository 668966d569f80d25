"""Random circuits over every gate of the table, built twice: as a pyqml Circuit and as dense gates for the
reference simulator in tests/dense_reference.py. Parameters may be constants, weights or affine inputs."""
from __future__ import annotations

import dense_reference as ref
import numpy as np

import pyqml as pq
from pyqml import _core

TABLE = {g["name"]: g for g in _core.gate_table()}
NAMES = sorted(TABLE)


class RandomCircuit:
    """A random circuit on n wires.

    Each gate angle is, at random, a constant, ``w[k]`` (a fresh weight) or ``a * x[j] + b`` (an input
    feature). ``dense(w, x)`` gives the reference gate list for a weight vector and one input row.
    """

    def __init__(self, n: int, n_gates: int, rng: np.random.Generator, n_inputs: int = 0,
                 trainable: bool = True, names=None):
        self.n = n
        self.n_inputs = n_inputs
        names = [g for g in (names or NAMES) if TABLE[g]["n_wires"] <= n
                 and not (g == "QubitUnitary" and n < 1)]
        self.spec = []  # (name, wires, [(kind, index, scale, offset)], matrix or None)
        n_weights = 0
        for _ in range(n_gates):
            name = names[rng.integers(len(names))]
            g = TABLE[name]
            if g["n_wires"] > 0:
                k = g["n_wires"]
            else:
                k = int(rng.integers(1, min(n, 3) + 1 if name == "QubitUnitary" else n + 1))
            wires = [int(w) for w in rng.permutation(n)[:k]]
            params = []
            for _ in range(g["n_params"]):
                r = rng.random()
                if trainable and r < 0.45:
                    params.append((1, n_weights, 1.0, 0.0))
                    n_weights += 1
                elif n_inputs and r < 0.8:
                    params.append((2, int(rng.integers(n_inputs)), float(rng.uniform(-2, 2)),
                                   float(rng.uniform(-1, 1))))
                else:
                    params.append((0, 0, 1.0, float(rng.uniform(-np.pi, np.pi))))
            U = ref.random_unitary(2**k, rng) if name == "QubitUnitary" else None
            self.spec.append((name, wires, params, U))
        self.n_weights = n_weights

    def circuit(self) -> pq.Circuit:
        c = pq.Circuit(self.n)
        w = c.new_weights(self.n_weights) if self.n_weights else []
        x = c.new_inputs(self.n_inputs) if self.n_inputs else []
        with c:
            for name, wires, params, U in self.spec:
                vals = []
                for kind, idx, scale, off in params:
                    if kind == 0:
                        vals.append(off)
                    elif kind == 1:
                        vals.append(w[idx] * scale + off)
                    else:
                        vals.append(scale * x[idx] + off)
                if name == "QubitUnitary":
                    pq.QubitUnitary(U, wires=wires)
                else:
                    pq.GATES[name](*vals, wires=wires)
        return c

    def angles(self, params, w, x):
        out = []
        for kind, idx, scale, off in params:
            src = {0: None, 1: w, 2: x}[kind]
            out.append(off if src is None else scale * src[idx] + off)
        return out

    def dense(self, w=None, x=None):
        gates = []
        for name, wires, params, U in self.spec:
            M = U if name == "QubitUnitary" else ref.gate_matrix(name, self.angles(params, w, x), len(wires))
            gates.append((M, wires))
        return gates

    def state(self, w=None, x=None) -> np.ndarray:
        return ref.simulate(self.n, self.dense(w, x))


def random_pauli_sum(n: int, rng: np.random.Generator, n_terms: int = 4):
    """(pyqml Observable, dense-reference terms) for a random real-weighted Pauli sum on n wires."""
    terms = []
    obs = pq.Observable()
    for _ in range(n_terms):
        k = int(rng.integers(1, min(n, 4) + 1))
        wires = [int(v) for v in rng.permutation(n)[:k]]
        word = {v: "XYZ"[rng.integers(3)] for v in wires}
        c = float(rng.normal())
        terms.append((c, word))
        t = pq.Observable({(): c})
        for v, letter in word.items():
            t = t @ pq.Observable.pauli(letter, v)
        obs = obs + t
    return obs, terms


def ry_cz_brickwork(n, layers):
    """The 1-D brickwork of the W3 benchmark: `layers` times RY on every wire, CZ on the even bonds, RY on
    every wire again, CZ on the odd bonds; weights of shape (layers, 2, n)."""
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    with c:
        for layer in range(layers):
            for half in (0, 1):
                for i in range(n):
                    pq.RY(w[layer, half, i], wires=i)
                for i in range(half, n - 1, 2):
                    pq.CZ(wires=[i, i + 1])
    return c
