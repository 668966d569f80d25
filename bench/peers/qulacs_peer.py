"""Peer: Qulacs (C++ statevector).  Values from ``update_quantum_state`` plus
``Observable.get_expectation_value``; gradients from
``ParametricQuantumCircuit.backprop(observable)``.

Qulacs rotations are ``exp(+i t P / 2)``, so every angle is passed negated and the
gradients are negated back."""

from __future__ import annotations

import functools

import numpy as onp
import qulacs
from _common import W, expand_rot, scatter_gradient, w1_template
from qulacs import Observable, ParametricQuantumCircuit, QuantumState

SETTING = "qulacs statevector, backprop() gradients"


def versions():
    return {"qulacs": qulacs.__version__}


def build(n, ops, data_positions=()):
    """ParametricQuantumCircuit for a workload gate list (Rot already expanded).
    Returns (circuit, list of trainable-angle parameter ids, data parameter ids)."""
    c = ParametricQuantumCircuit(n)
    trainable, data = [], []
    dpos = set(data_positions)
    pid = 0
    for k, op in enumerate(ops):
        if op.name in ("RX", "RY", "RZ", "IsingZZ"):
            a = -op.params[0]
            if op.name == "RX":
                c.add_parametric_RX_gate(op.wires[0], a)
            elif op.name == "RY":
                c.add_parametric_RY_gate(op.wires[0], a)
            elif op.name == "RZ":
                c.add_parametric_RZ_gate(op.wires[0], a)
            else:
                c.add_parametric_multi_Pauli_rotation_gate(list(op.wires), [3, 3], a)
            (data if k in dpos else trainable if op.index[0] is not None else data).append(pid)
            pid += 1
        elif op.name == "CNOT":
            c.add_CNOT_gate(*op.wires)
        elif op.name == "CZ":
            c.add_CZ_gate(*op.wires)
        elif op.name == "H":
            c.add_H_gate(op.wires[0])
        else:
            raise ValueError(op.name)
    return c, trainable, data


def observable(n, terms):
    o = Observable(n)
    for coeff, wires in terms:
        o.add_operator(coeff, " ".join(f"Z {w}" for w in wires))
    return o


@functools.lru_cache(None)
def _w1():
    circ, pos = w1_template()
    ops = expand_rot(circ)
    # data ops keep their positions: Rot expansion happens after the 4 RX gates
    c, trainable, data = build(4, ops, data_positions=pos)
    obs = [observable(4, [(1.0, (i,))]) for i in range(4)]
    return circ, ops, c, trainable, data, obs


def w1_values(data_rows):
    _, _, c, _, data, obs = _w1()
    out = onp.empty((len(data_rows), 4))
    state = QuantumState(4)
    for r, x in enumerate(onp.asarray(data_rows)):
        for j, p in enumerate(data):
            c.set_parameter(p, -float(x[j]))
        state.set_zero_state()
        c.update_quantum_state(state)
        for i in range(4):
            out[r, i] = obs[i].get_expectation_value(state)
    return out


def w1_values_and_jacobian(data_rows):
    circ, ops, c, trainable, data, obs = _w1()
    vals = w1_values(data_rows)
    jac = onp.empty((len(data_rows), 4) + circ.theta_shape)
    for r, x in enumerate(onp.asarray(data_rows)):
        for j, p in enumerate(data):
            c.set_parameter(p, -float(x[j]))
        for i in range(4):
            g = onp.asarray(c.backprop(obs[i]))
            jac[r, i] = scatter_gradient(ops, -g[trainable], circ.n_params, circ.theta_shape)
    return vals, jac


@functools.lru_cache(None)
def _scalar(kind, *args):
    circ = {"w2": W.w2_circuit, "w3": W.w3_circuit, "w5": W.w5_circuit}[kind](*args)
    ops = expand_rot(circ)
    c, trainable, _ = build(circ.n, ops)
    return circ, ops, c, trainable, observable(circ.n, circ.observables)


def _value(kind, *args):
    circ, ops, c, trainable, obs = _scalar(kind, *args)
    state = QuantumState(circ.n)
    c.update_quantum_state(state)
    return float(obs.get_expectation_value(state))


def _value_and_grad(kind, *args):
    circ, ops, c, trainable, obs = _scalar(kind, *args)
    value = _value(kind, *args)
    g = onp.asarray(c.backprop(obs))
    return value, scatter_gradient(ops, -g[trainable], circ.n_params, circ.theta_shape)


def w2_value(n):
    return _value("w2", n)


def w2_value_and_grad(n):
    return _value_and_grad("w2", n)


def w3_energy(n, L):
    return _value("w3", n, L)


def w3_energy_and_grad(n, L):
    return _value_and_grad("w3", n, L)
