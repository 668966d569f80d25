"""Peer: PennyLane ``default.qubit`` with the JAX interface (backprop), ``jax.jit``
and, for W1, ``jax.vmap`` over the 150 rows.  Double precision (jax_enable_x64)."""

from __future__ import annotations

import functools

import jax

jax.config.update("jax_enable_x64", True)
import _pl  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as onp  # noqa: E402
import pennylane as qml  # noqa: E402
from _common import W  # noqa: E402

SETTING = "default.qubit, jax interface, backprop, jit (+vmap for W1)"


def versions():
    return {"pennylane": qml.__version__, "jax": jax.__version__}


@functools.lru_cache(None)
def _w1():
    f = _pl.w1_qnode(qml.device("default.qubit", wires=4), interface="jax",
                     diff_method="backprop")
    one = lambda x, w: jnp.stack(f(x, w))  # (4,)
    values = jax.jit(jax.vmap(one, in_axes=(0, None)))
    vj = jax.jit(jax.vmap(lambda x, w: (one(x, w), jax.jacrev(one, argnums=1)(x, w)),
                          in_axes=(0, None)))
    return values, vj


def w1_values(data):
    values, _ = _w1()
    return onp.asarray(jax.block_until_ready(values(jnp.asarray(data),
                                                    jnp.asarray(W.w1_weights()))))


def w1_values_and_jacobian(data):
    _, vj = _w1()
    v, j = jax.block_until_ready(vj(jnp.asarray(data), jnp.asarray(W.w1_weights())))
    return onp.asarray(v), onp.asarray(j)


@functools.lru_cache(None)
def _scalar(kind, *args):
    circ = {"w2": W.w2_circuit, "w3": _pl.w3_circuit}[kind](*args)
    f = _pl.scalar_qnode(qml.device("default.qubit", wires=circ.n), circ,
                         interface="jax", diff_method="backprop")
    return circ, jax.jit(f), jax.jit(jax.value_and_grad(f))


def _value_and_grad(kind, *args):
    circ, _, vg = _scalar(kind, *args)
    v, g = jax.block_until_ready(vg(jnp.asarray(circ.theta.reshape(circ.theta_shape))))
    return float(v), onp.asarray(g)


def w2_value_and_grad(n):
    return _value_and_grad("w2", n)


def w3_energy(n, L):
    circ, f, _ = _scalar("w3", n, L)
    return float(jax.block_until_ready(f(jnp.asarray(circ.theta.reshape(circ.theta_shape)))))


def w3_energy_and_grad(n, L):
    return _value_and_grad("w3", n, L)
