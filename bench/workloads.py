"""Benchmark workloads W1-W5, defined once for every simulator.

Only numpy and networkx are used here (scikit-learn optionally, for Iris), so the
definitions can be imported by pyqml's own benchmarks and by every peer adapter
in ``bench/peers/``.

Conventions (PennyLane's)
-------------------------
* ``RX(t) = exp(-i t X / 2)``, ``RY(t) = exp(-i t Y / 2)``, ``RZ(t) = exp(-i t Z / 2)``.
* ``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)`` (``RZ(phi)`` is applied first).
* ``IsingZZ(t) = exp(-i t Z⊗Z / 2)`` (= PennyLane ``IsingZZ``/``MultiRZ`` on two wires,
  qiskit ``RZZ``).
* ``CNOT(c, t)`` has control ``c`` first; ``CZ`` is symmetric; ``H`` is Hadamard.
* Wire 0 is the most significant bit of a computational-basis index.  All observables
  used here are products of Pauli Z, so a simulator with the opposite bit order gives
  the same numbers as long as it maps wire ``i`` to its qubit ``i``.
* Every circuit starts from ``|0...0>``.

Circuit format
--------------
A workload is a :class:`Circuit`: ``n`` wires, a list of :class:`Op` and a list of
observables.  Each ``Op`` has a gate ``name``, its ``wires``, its angles ``params`` and,
per angle, ``index`` into the trainable parameter vector ``theta`` (``None`` for fixed
angles such as data inputs) and ``scale`` (``angle = scale * theta[index]``).  A
gradient with respect to ``theta`` therefore is ``sum over ops of scale * dE/dangle``.
Observables are ``(coeff, wires)`` pairs meaning ``coeff * prod_{w in wires} Z_w``.

Gate names used: ``H``, ``CNOT``, ``CZ``, ``RX``, ``RY``, ``RZ``, ``Rot`` (3 angles),
``IsingZZ``.

A small dense statevector evaluator (:func:`statevector_expectations`) is included for
cross-checking peers at small ``n``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

TWO_PI = 2.0 * np.pi

_HERE = os.path.dirname(os.path.abspath(__file__))
IRIS_CSV = os.path.join(os.path.dirname(_HERE), "pyqml", "data", "iris.csv")


# --------------------------------------------------------------------------- format


@dataclass(frozen=True)
class Op:
    """One gate.  ``index[k]`` / ``scale[k]`` describe how angle ``params[k]`` depends
    on the trainable vector: ``params[k] = scale[k] * theta[index[k]]`` (or fixed when
    ``index[k] is None``)."""

    name: str
    wires: tuple
    params: tuple = ()
    index: tuple = ()
    scale: tuple = ()


@dataclass
class Circuit:
    """A gate list on ``n`` wires plus Z-string observables.

    ``theta`` is the trainable parameter vector (flat); ``theta_shape`` is the shape the
    workload documents for it (gradients are reshaped to it).  ``observables`` is a list
    of ``(coeff, wires)``: the workload's scalar is ``sum coeff * <prod Z_wires>``.
    """

    n: int
    ops: list
    theta: np.ndarray
    theta_shape: tuple
    observables: list = field(default_factory=list)

    @property
    def n_params(self) -> int:
        return int(self.theta.size)

    def with_observables(self, observables):
        return Circuit(self.n, self.ops, self.theta, self.theta_shape, list(observables))


class _Builder:
    def __init__(self, n, theta, theta_shape):
        self.n = n
        self.ops = []
        self.theta = np.asarray(theta, dtype=float).ravel()
        self.theta_shape = tuple(theta_shape)

    def fixed(self, name, wires, *params):
        self.ops.append(Op(name, tuple(wires), tuple(float(p) for p in params),
                           (None,) * len(params), (1.0,) * len(params)))

    def trainable(self, name, wires, indices, scales=None):
        indices = tuple(int(i) for i in indices)
        scales = tuple(float(s) for s in (scales or (1.0,) * len(indices)))
        params = tuple(s * self.theta[i] for i, s in zip(indices, scales))
        self.ops.append(Op(name, tuple(wires), params, indices, scales))

    def circuit(self, observables=()):
        return Circuit(self.n, self.ops, self.theta, self.theta_shape, list(observables))


def _sel_layers(b: _Builder, n: int, n_layers: int, offset: int = 0):
    """StronglyEntanglingLayers (PennyLane): layer ``l`` = Rot(w[l,i,:]) on every wire
    ``i``, then CNOT(i, (i + r) % n) for i = 0..n-1 with ``r = l % (n - 1) + 1``.
    Weight ``w[l, i, k]`` is ``theta[offset + (l * n + i) * 3 + k]``."""
    for l in range(n_layers):
        for i in range(n):
            base = offset + (l * n + i) * 3
            b.trainable("Rot", (i,), (base, base + 1, base + 2))
        if n > 1:
            r = l % (n - 1) + 1
            for i in range(n):
                b.fixed("CNOT", (i, (i + r) % n))


def z_all(n):
    """Observables ``<Z_i>`` for every wire, one term each (coefficient 1)."""
    return [(1.0, (i,)) for i in range(n)]


# ------------------------------------------------------------------------------- W1


def iris_raw():
    """The 150 Iris rows (features ``(150, 4)``, labels ``(150,)``), in the data set's
    order: from scikit-learn when installed, otherwise from ``pyqml/data/iris.csv``."""
    try:
        from sklearn.datasets import load_iris

        d = load_iris()
        return np.asarray(d.data, dtype=float), np.asarray(d.target, dtype=int)
    except ImportError:
        arr = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1)
        return arr[:, :4].astype(float), arr[:, 4].astype(int)


def w1_inputs():
    """W1 inputs: Iris features standardized per column over all 150 rows (mean 0,
    population std 1 -- what ``StandardScaler().fit_transform`` gives).  Shape (150, 4)."""
    x, _ = iris_raw()
    return (x - x.mean(axis=0)) / x.std(axis=0)


def w1_weights():
    """W1 weights, shape (2, 4, 3): ``default_rng(0).uniform(0, 2*pi, size=(2, 4, 3))``."""
    return np.random.default_rng(0).uniform(0, TWO_PI, size=(2, 4, 3))


def w1_circuit(x, weights=None):
    """W1 seed QNN for one input row ``x`` (4 numbers): RX(x_j) on wire j (fixed
    angles), then 2 StronglyEntanglingLayers with ``weights`` (2, 4, 3); observables
    ``<Z_i>`` for i = 0..3.  ``theta`` is ``weights.ravel()`` (24 entries)."""
    w = w1_weights() if weights is None else np.asarray(weights, dtype=float)
    n = 4
    b = _Builder(n, w, w.shape)
    for j in range(n):
        b.fixed("RX", (j,), x[j])
    _sel_layers(b, n, w.shape[0])
    return b.circuit(z_all(n))


# ------------------------------------------------------------------------------- W2


def w2_weights(n, n_layers=4):
    """W2 weights, shape (L, n, 3): ``default_rng(0).uniform(0, 2*pi, size=(L, n, 3))``."""
    return np.random.default_rng(0).uniform(0, TWO_PI, size=(n_layers, n, 3))


def w2_circuit(n, n_layers=4):
    """W2: StronglyEntanglingLayers with L = 4 on n wires from ``|0..0>`` (no
    embedding); scalar ``H = sum_i Z_i``.  ``theta`` is the (4, n, 3) weights, flat."""
    w = w2_weights(n, n_layers)
    b = _Builder(n, w, w.shape)
    _sel_layers(b, n, n_layers)
    return b.circuit(z_all(n))


# ------------------------------------------------------------------------------- W3


def w3_angles(n, n_layers):
    """W3 angles, shape (L, 2, n): ``default_rng(0).uniform(0, 2*pi, size=(L, 2, n))``."""
    return np.random.default_rng(0).uniform(0, TWO_PI, size=(n_layers, 2, n))


def w3_circuit(n, n_layers):
    """W3: 1-D shallow brickwork on an open chain of n qubits, L layers.  Layer l:
    RY(a[l,0,i]) on every qubit, CZ on (0,1),(2,3),...; RY(a[l,1,i]) on every qubit,
    CZ on (1,2),(3,4),...  Scalar: ``E = sum_{i=0}^{n-2} <Z_i Z_{i+1}>``
    (see :func:`w3_term_observable` for the single-site term)."""
    a = w3_angles(n, n_layers)
    b = _Builder(n, a, a.shape)
    for l in range(n_layers):
        for half in (0, 1):
            for i in range(n):
                b.trainable("RY", (i,), ((l * 2 + half) * n + i,))
            for i in range(half, n - 1, 2):
                b.fixed("CZ", (i, i + 1))
    return b.circuit(chain_zz(n))


def chain_zz(n):
    """``sum_{i=0}^{n-2} Z_i Z_{i+1}`` (open chain)."""
    return [(1.0, (i, i + 1)) for i in range(n - 1)]


def w3_term_observable(n):
    """W3 single term: ``<Z_{n//2}>``."""
    return [(1.0, (n // 2,))]


# ------------------------------------------------------------------------------- W4


def grid_edges(lx, ly):
    """Nearest-neighbour edges of an lx x ly grid (qubit ``r * ly + c``), as four lists:
    horizontal even ``(r,c)-(r,c+1)`` with c even, horizontal odd (c odd), vertical even
    ``(r,c)-(r+1,c)`` with r even, vertical odd (r odd)."""
    q = lambda r, c: r * ly + c
    h_even = [(q(r, c), q(r, c + 1)) for r in range(lx) for c in range(0, ly - 1, 2)]
    h_odd = [(q(r, c), q(r, c + 1)) for r in range(lx) for c in range(1, ly - 1, 2)]
    v_even = [(q(r, c), q(r + 1, c)) for r in range(0, lx - 1, 2) for c in range(ly)]
    v_odd = [(q(r, c), q(r + 1, c)) for r in range(1, lx - 1, 2) for c in range(ly)]
    return [h_even, h_odd, v_even, v_odd]


def w4_angles(lx, ly, n_layers):
    """W4 angles, shape (L, 4, n) with n = lx * ly:
    ``default_rng(0).uniform(0, 2*pi, size=(L, 4, n))``."""
    return np.random.default_rng(0).uniform(0, TWO_PI, size=(n_layers, 4, lx * ly))


def w4_circuit(lx, ly, n_layers):
    """W4: 2-D shallow circuit on an lx x ly grid (qubit ``r * ly + c``).  Each layer has
    four sub-layers s = 0..3 (horizontal even, horizontal odd, vertical even, vertical
    odd CZ pairs, see :func:`grid_edges`), each preceded by RY(a[l,s,i]) on every qubit.
    Scalar: ``E = sum over all grid edges <Z_a Z_b>``."""
    n = lx * ly
    a = w4_angles(lx, ly, n_layers)
    b = _Builder(n, a, a.shape)
    subs = grid_edges(lx, ly)
    for l in range(n_layers):
        for s, pairs in enumerate(subs):
            for i in range(n):
                b.trainable("RY", (i,), ((l * 4 + s) * n + i,))
            for (u, v) in pairs:
                b.fixed("CZ", (u, v))
    edges = [e for sub in subs for e in sub]
    return b.circuit([(1.0, e) for e in edges])


# ------------------------------------------------------------------------------- W5


def w5_graph(n):
    """W5 graph: ``networkx.random_regular_graph(3, n, seed=1)``; edges as sorted
    ``(i, j)`` with i < j, in sorted order."""
    import networkx as nx

    g = nx.random_regular_graph(3, n, seed=1)
    return sorted(tuple(sorted((int(u), int(v)))) for u, v in g.edges())


def w5_params(p):
    """W5 angles, shape (2, p): row 0 gammas, row 1 betas,
    ``default_rng(0).uniform(0, 2*pi, size=(2, p))``."""
    return np.random.default_rng(0).uniform(0, TWO_PI, size=(2, p))


def w5_circuit(n, p):
    """W5: QAOA for MaxCut on :func:`w5_graph` (3-regular, n nodes).  H on every qubit
    (|+>^n), then p layers k: ``IsingZZ(gamma_k) = exp(-i gamma_k Z_i Z_j / 2)`` on every
    edge (edge order of :func:`w5_graph`), then mixer ``RX(2 beta_k) = exp(-i beta_k X)``
    on every qubit.  Angles are shared per layer: ``theta = [gamma_0..gamma_{p-1},
    beta_0..beta_{p-1}]`` (shape (2, p)); the mixer angle has scale 2.

    Scalar: ``E = sum_{(i,j) in edges} <Z_i Z_j>`` (the ZZ energy, not the cut value;
    the expected cut is ``(len(edges) - E) / 2``)."""
    edges = w5_graph(n)
    ang = w5_params(p)
    b = _Builder(n, ang, ang.shape)
    for i in range(n):
        b.fixed("H", (i,))
    for k in range(p):
        for (u, v) in edges:
            b.trainable("IsingZZ", (u, v), (k,))
        for i in range(n):
            b.trainable("RX", (i,), (p + k,), (2.0,))
    return b.circuit([(1.0, e) for e in edges])


# ------------------------------------------------------------------ helper evaluators


def gate_matrix(name, params=()):
    """Dense matrix of a gate in this module's conventions (wire order as listed)."""
    c, s = (np.cos(params[0] / 2), np.sin(params[0] / 2)) if params else (None, None)
    if name == "H":
        return np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
    if name == "RX":
        return np.array([[c, -1j * s], [-1j * s, c]], dtype=complex)
    if name == "RY":
        return np.array([[c, -s], [s, c]], dtype=complex)
    if name == "RZ":
        return np.diag([np.exp(-1j * params[0] / 2), np.exp(1j * params[0] / 2)])
    if name == "Rot":
        phi, th, om = params
        return gate_matrix("RZ", (om,)) @ gate_matrix("RY", (th,)) @ gate_matrix("RZ", (phi,))
    if name == "CNOT":
        m = np.eye(4, dtype=complex)
        m[2:, 2:] = [[0, 1], [1, 0]]
        return m
    if name == "CZ":
        return np.diag([1, 1, 1, -1]).astype(complex)
    if name == "IsingZZ":
        e, f = np.exp(-1j * params[0] / 2), np.exp(1j * params[0] / 2)
        return np.diag([e, f, f, e])
    raise ValueError(f"unknown gate {name}")


def statevector(circ: Circuit, theta=None):
    """Dense statevector (shape (2,)*n, wire 0 first) of ``circ``; ``theta`` overrides
    the trainable parameters.  For cross-checks at small n only."""
    theta = circ.theta if theta is None else np.asarray(theta, dtype=float).ravel()
    n = circ.n
    psi = np.zeros((2,) * n, dtype=complex)
    psi[(0,) * n] = 1.0
    for op in circ.ops:
        params = tuple(v if i is None else sc * theta[i]
                       for v, i, sc in zip(op.params, op.index, op.scale))
        u = gate_matrix(op.name, params).reshape((2,) * (2 * len(op.wires)))
        k = len(op.wires)
        psi = np.tensordot(u, psi, axes=(list(range(k, 2 * k)), list(op.wires)))
        psi = np.moveaxis(psi, list(range(k)), list(op.wires))
    return psi


def z_string_expectation(psi, wires):
    """``<psi| prod_{w in wires} Z_w |psi>`` for a dense state of shape (2,)*n."""
    p = np.abs(psi) ** 2
    sign = np.ones_like(p)
    for w in wires:
        shape = [1] * p.ndim
        shape[w] = 2
        sign = sign * np.array([1.0, -1.0]).reshape(shape)
    return float(np.sum(p * sign))


def statevector_expectations(circ: Circuit, theta=None):
    """Every observable term of ``circ`` (array, one entry per ``(coeff, wires)``,
    coefficient applied) from a dense statevector.  Small n only."""
    psi = statevector(circ, theta)
    return np.array([c * z_string_expectation(psi, w) for c, w in circ.observables])


def statevector_gradient(circ: Circuit, theta=None, eps=1e-6):
    """Central finite-difference gradient of ``sum`` of the observables w.r.t. theta,
    shaped ``theta_shape``.  A slow cross-check for tiny circuits."""
    theta = circ.theta if theta is None else np.asarray(theta, dtype=float).ravel()
    g = np.zeros_like(theta)
    for k in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += eps
        tm[k] -= eps
        g[k] = (statevector_expectations(circ, tp).sum()
                - statevector_expectations(circ, tm).sum()) / (2 * eps)
    return g.reshape(circ.theta_shape)


# ------------------------------------------------------------------- size catalogue

#: The sizes the benchmark runs use, per workload.
SIZES = {
    "w1": {"rows": 150},
    "w2": {"n": [12, 14, 16, 18, 20, 22]},
    "w3": {"n": [100, 1000], "L": [2, 4], "small_n": [16, 20]},
    "w4": {"grid": [(6, 6), (10, 10)], "L": [2]},
    "w5": {"n": [100], "p": [1, 2]},
}
