"""Peer: TensorCircuit-NG with the JAX backend (complex128), ``jax.jit`` and, for W1,
``jax.vmap`` over the 150 rows.  W1/W2/small-n W3 contract the circuit to its state
vector; large-n W3 terms use TensorCircuit's light-cone expectation."""

from __future__ import annotations

import functools

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as onp  # noqa: E402
import tensorcircuit as tc  # noqa: E402
from _common import W, expand_rot, w1_template  # noqa: E402

tc.set_backend("jax")
tc.set_dtype("complex128")
tc.set_contractor("greedy")

SETTING = "tensorcircuit-ng, jax backend, jit (+vmap for W1), greedy contractor"


def versions():
    return {"tensorcircuit_ng": tc.__version__, "jax": jax.__version__}


def apply_ops(c, ops, theta, data=None, data_positions=()):
    pos = {p: j for j, p in enumerate(data_positions)}
    for k, op in enumerate(ops):
        if k in pos:
            a = (data[pos[k]],)
        else:
            a = tuple(v if i is None else s * theta[i]
                      for v, i, s in zip(op.params, op.index, op.scale))
        w = op.wires
        if op.name == "RX":
            c.rx(w[0], theta=a[0])
        elif op.name == "RY":
            c.ry(w[0], theta=a[0])
        elif op.name == "RZ":
            c.rz(w[0], theta=a[0])
        elif op.name == "CNOT":
            c.cnot(w[0], w[1])
        elif op.name == "CZ":
            c.cz(w[0], w[1])
        elif op.name == "H":
            c.h(w[0])
        elif op.name == "IsingZZ":
            c.rzz(w[0], w[1], theta=a[0])
        else:
            raise ValueError(op.name)
    return c


def z_expectations_from_state(psi, n, observables):
    """sum coeff * <Z-string> from a dense state (wire 0 = most significant)."""
    p = jnp.abs(jnp.reshape(psi, (2,) * n)) ** 2
    total = 0.0
    for coeff, wires in observables:
        q = p
        sign = jnp.array([1.0, -1.0])
        keep = sorted(wires)
        q = jnp.sum(q, axis=tuple(a for a in range(n) if a not in keep))
        for ax in range(len(keep)):
            shape = [1] * len(keep)
            shape[ax] = 2
            q = q * sign.reshape(shape)
        total = total + coeff * jnp.sum(q)
    return total


@functools.lru_cache(None)
def _w1():
    circ, pos = w1_template()
    ops = expand_rot(circ)

    def one(x, w):
        c = apply_ops(tc.Circuit(4), ops, w.reshape(-1), data=x, data_positions=pos)
        return jnp.stack([jnp.real(c.expectation_ps(z=[i])) for i in range(4)])

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
    circ = {"w2": W.w2_circuit, "w3": W.w3_circuit}[kind](*args)
    ops = expand_rot(circ)

    def f(theta):
        c = apply_ops(tc.Circuit(circ.n), ops, theta.reshape(-1))
        return z_expectations_from_state(c.state(), circ.n, circ.observables)

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


@functools.lru_cache(None)
def _w3_term(n, L):
    circ = W.w3_circuit(n, L)
    ops = expand_rot(circ)

    def f(theta):
        c = apply_ops(tc.Circuit(n), ops, theta)
        return jnp.real(c.expectation((tc.gates.z(), [n // 2]), enable_lightcone=True))

    return circ, jax.jit(f)


def w3_term(n, L):
    """<Z_{n/2}> for large n via the light-cone-reduced network (jitted)."""
    circ, f = _w3_term(n, L)
    return float(jax.block_until_ready(f(jnp.asarray(circ.theta))))
