"""Peer: Qiskit Aer (``AerSimulator``), values only (Aer has no gradients).

Two methods: ``statevector`` (W1, W2, small-n W3) and ``matrix_product_state``
(W3, W4, W5 at large n; exact, Aer's default truncation threshold).  Expectations use
``save_expectation_value``; wire ``i`` is qubit ``i`` (Qiskit's little-endian order does
not change Z-string expectations)."""

from __future__ import annotations

import functools

import numpy as onp
import qiskit
import qiskit_aer
from _common import W, expand_rot, w1_template
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator

SETTING = "AerSimulator statevector / matrix_product_state"


def versions():
    return {"qiskit": qiskit.__version__, "qiskit_aer": qiskit_aer.__version__}


def build(n, ops, data=None, data_positions=()):
    qc = QuantumCircuit(n)
    pos = {p: j for j, p in enumerate(data_positions)}
    for k, op in enumerate(ops):
        a = (float(data[pos[k]]),) if k in pos else op.params
        w = op.wires
        if op.name == "RX":
            qc.rx(a[0], w[0])
        elif op.name == "RY":
            qc.ry(a[0], w[0])
        elif op.name == "RZ":
            qc.rz(a[0], w[0])
        elif op.name == "CNOT":
            qc.cx(w[0], w[1])
        elif op.name == "CZ":
            qc.cz(w[0], w[1])
        elif op.name == "H":
            qc.h(w[0])
        elif op.name == "IsingZZ":
            qc.rzz(a[0], w[0], w[1])
        else:
            raise ValueError(op.name)
    return qc


def pauli_op(n, terms):
    return SparsePauliOp.from_sparse_list([("Z" * len(w), list(w), c) for c, w in terms],
                                          num_qubits=n)


@functools.lru_cache(None)
def _sim(method):
    # Aer's qubit-truncation pass returns wrong values for a lone single-qubit
    # expectation on these circuits (W3 <Z_{n/2}>: 0.0526 instead of -0.6401 at n=12,
    # qiskit-aer 0.18.2), so it is switched off.
    return AerSimulator(method=method, enable_truncation=False)


@functools.lru_cache(None)
def _w1_circuits(data_key):
    data = onp.frombuffer(data_key, dtype=float).reshape(-1, 4)
    circ, pos = w1_template()
    ops = expand_rot(circ)
    out = []
    for x in data:
        qc = build(4, ops, data=x, data_positions=pos)
        for i in range(4):
            qc.save_expectation_value(pauli_op(4, [(1.0, (i,))]), list(range(4)), label=f"z{i}")
        out.append(qc)
    return out


def w1_values(data):
    """All 150 rows as one Aer job of 150 circuits (built once and cached)."""
    qcs = _w1_circuits(onp.ascontiguousarray(data, dtype=float).tobytes())
    res = _sim("statevector").run(qcs).result()
    return onp.array([[res.data(k)[f"z{i}"].real for i in range(4)] for k in range(len(qcs))])


@functools.lru_cache(None)
def _scalar_circuit(method, kind, *args):
    """Circuit with expectation saves.  Statevector: one all-qubit operator.  MPS: one
    save per term on its own qubits (an all-qubit operator is far slower there)."""
    circ = {
        "w2": W.w2_circuit,
        "w3": W.w3_circuit,
        "w3_term": lambda n, L: W.w3_circuit(n, L).with_observables(W.w3_term_observable(n)),
        "w4": W.w4_circuit,
        "w5": W.w5_circuit,
    }[kind](*args)
    qc = build(circ.n, expand_rot(circ))
    if method == "statevector":
        qc.save_expectation_value(pauli_op(circ.n, circ.observables), list(range(circ.n)),
                                  label="e0")
        return qc, 1
    for k, (c, w) in enumerate(circ.observables):
        qc.save_expectation_value(SparsePauliOp("Z" * len(w), coeffs=[c]), list(w),
                                  label=f"e{k}")
    return qc, len(circ.observables)


def _run(method, kind, *args):
    qc, terms = _scalar_circuit(method, kind, *args)
    res = _sim(method).run(qc).result()
    if not res.success:
        raise RuntimeError(res.status)
    data = res.data(0)
    return float(sum(data[f"e{k}"].real for k in range(terms)))


def w2_value(n):
    return _run("statevector", "w2", n)


def w3_energy(n, L):
    return _run("statevector", "w3", n, L)


def w3_term_mps(n, L):
    return _run("matrix_product_state", "w3_term", n, L)


def w3_energy_mps(n, L):
    return _run("matrix_product_state", "w3", n, L)


def w4_energy_mps(lx, ly, L):
    return _run("matrix_product_state", "w4", lx, ly, L)


def w5_energy_mps(n, p):
    return _run("matrix_product_state", "w5", n, p)
