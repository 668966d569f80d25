"""Peer: PennyLane ``default.qubit`` with autograd (NumPy) backprop.

W1 uses parameter broadcasting over the 150 rows."""

from __future__ import annotations

import functools

import _pl
import numpy as onp
import pennylane as qml
from _common import W
from pennylane import numpy as pnp

SETTING = "default.qubit, autograd backprop, broadcasting for W1"


def versions():
    return {"pennylane": qml.__version__}


@functools.lru_cache(None)
def _w1():
    return _pl.w1_qnode(qml.device("default.qubit", wires=4), interface="autograd",
                        diff_method="backprop")


def w1_values(data):
    f = _w1()
    return onp.stack(f(onp.asarray(data), onp.asarray(W.w1_weights())), axis=1)


def w1_values_and_jacobian(data):
    f = _w1()
    x = pnp.array(onp.asarray(data), requires_grad=False)
    w = pnp.array(W.w1_weights(), requires_grad=True)
    fun = lambda w_: qml.math.stack(f(x, w_))  # (4, 150)
    vals = fun(w)
    jac = qml.jacobian(fun)(w)  # (4, 150, 2, 4, 3)
    return onp.asarray(vals).T, onp.moveaxis(onp.asarray(jac), 0, 1)


@functools.lru_cache(None)
def _scalar(kind, *args):
    circ = {"w2": W.w2_circuit, "w3": _pl.w3_circuit}[kind](*args)
    f = _pl.scalar_qnode(qml.device("default.qubit", wires=circ.n), circ,
                         interface="autograd", diff_method="backprop")
    return circ, f


def _value_and_grad(kind, *args):
    circ, f = _scalar(kind, *args)
    w = pnp.array(circ.theta.reshape(circ.theta_shape), requires_grad=True)
    g = qml.grad(f)
    grad = g(w)
    return float(g.forward), onp.asarray(grad)


def w2_value_and_grad(n):
    return _value_and_grad("w2", n)


def w3_energy(n, L):
    circ, f = _scalar("w3", n, L)
    return float(f(onp.asarray(circ.theta.reshape(circ.theta_shape))))


def w3_energy_and_grad(n, L):
    return _value_and_grad("w3", n, L)
