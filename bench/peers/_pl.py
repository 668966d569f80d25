"""PennyLane glue shared by the PennyLane-based peers (default.qubit, lightning)."""

from __future__ import annotations

import pennylane as qml
from _common import W, w1_template


def apply_ops(ops, theta, data=None, data_positions=()):
    """Queue the workload gate list.  ``theta`` is the flat trainable vector (any
    interface); ``data[..., j]`` feeds the op at ``data_positions[j]``."""
    pos = {p: j for j, p in enumerate(data_positions)}
    for k, op in enumerate(ops):
        if k in pos:
            angles = (data[..., pos[k]],)
        else:
            angles = tuple(v if i is None else s * theta[i]
                           for v, i, s in zip(op.params, op.index, op.scale))
        w = list(op.wires)
        if op.name == "RX":
            qml.RX(angles[0], wires=w)
        elif op.name == "RY":
            qml.RY(angles[0], wires=w)
        elif op.name == "RZ":
            qml.RZ(angles[0], wires=w)
        elif op.name == "Rot":
            qml.Rot(*angles, wires=w)
        elif op.name == "CNOT":
            qml.CNOT(wires=w)
        elif op.name == "CZ":
            qml.CZ(wires=w)
        elif op.name == "H":
            qml.Hadamard(wires=w)
        elif op.name == "IsingZZ":
            qml.IsingZZ(angles[0], wires=w)
        else:
            raise ValueError(op.name)


def z_string(wires):
    o = qml.Z(wires[0])
    for w in wires[1:]:
        o = o @ qml.Z(w)
    return o


def hamiltonian(observables):
    return qml.Hamiltonian([c for c, _ in observables], [z_string(w) for _, w in observables])


def w1_qnode(device, **kw):
    """QNode ``f(x, weights)`` -> 4 expectations ``<Z_i>`` for the W1 QNN."""
    circ, pos = w1_template()

    @qml.qnode(device, **kw)
    def f(x, weights):
        apply_ops(circ.ops, weights.reshape(-1), data=x, data_positions=pos)
        return [qml.expval(qml.Z(i)) for i in range(4)]

    return f


def scalar_qnode(device, circ, **kw):
    """QNode ``f(theta_shaped)`` -> ``<sum coeff * Z-string>`` for a workload circuit."""
    H = hamiltonian(circ.observables)

    @qml.qnode(device, **kw)
    def f(theta):
        apply_ops(circ.ops, theta.reshape(-1))
        return qml.expval(H)

    return f


def w3_circuit(n, L, term=False):
    c = W.w3_circuit(n, L)
    return c.with_observables(W.w3_term_observable(n)) if term else c
