"""Peer: PennyLane ``lightning.qubit`` (C++ statevector) with ``diff_method="adjoint"``.

W1 values use parameter broadcasting over the 150 rows; the W1 Jacobian is one adjoint
pass per row (adjoint differentiation does not take broadcast tapes)."""

from __future__ import annotations

import functools

import _pl
import numpy as onp
import pennylane as qml
from _common import W
from pennylane import numpy as pnp

SETTING = "lightning.qubit, adjoint diff"


def versions():
    from importlib.metadata import version

    return {"pennylane": qml.__version__, "pennylane_lightning": version("pennylane_lightning")}


@functools.lru_cache(None)
def _w1():
    return _pl.w1_qnode(qml.device("lightning.qubit", wires=4), interface="autograd",
                        diff_method="adjoint")


def w1_values(data):
    f = _w1()
    return onp.stack(f(onp.asarray(data), onp.asarray(W.w1_weights())), axis=1)


def w1_values_and_jacobian(data):
    f = _w1()
    w = pnp.array(W.w1_weights(), requires_grad=True)
    vals, jacs = [], []
    for x in onp.asarray(data):
        xr = pnp.array(x, requires_grad=False)
        fun = lambda w_, xr=xr: qml.math.stack(f(xr, w_))
        jacs.append(onp.asarray(qml.jacobian(fun)(w)))
    vals = w1_values(data)
    return vals, onp.stack(jacs)


@functools.lru_cache(None)
def _scalar(kind, *args):
    circ = {"w2": W.w2_circuit, "w3": _pl.w3_circuit}[kind](*args)
    f = _pl.scalar_qnode(qml.device("lightning.qubit", wires=circ.n), circ,
                         interface="autograd", diff_method="adjoint")
    return circ, f


def _value_and_grad(kind, *args):
    circ, f = _scalar(kind, *args)
    w = pnp.array(circ.theta.reshape(circ.theta_shape), requires_grad=True)
    g = qml.grad(f)
    grad = g(w)
    return float(g.forward), onp.asarray(grad)


def w2_value(n):
    circ, f = _scalar("w2", n)
    return float(f(onp.asarray(circ.theta.reshape(circ.theta_shape))))


def w2_value_and_grad(n):
    return _value_and_grad("w2", n)


def w3_energy(n, L):
    circ, f = _scalar("w3", n, L)
    return float(f(onp.asarray(circ.theta.reshape(circ.theta_shape))))


def w3_energy_and_grad(n, L):
    return _value_and_grad("w3", n, L)
