"""JAX interface: a qnode as a JAX function with a custom VJP (works under ``jax.jit`` and ``jax.grad``).

>>> f = to_jax(qnode)
>>> jax.grad(lambda w: f(X, w).sum())(W)

The engine runs through ``jax.pure_callback``: one batched call forward, one batched VJP backward. Enable
``jax_enable_x64`` for double-precision results (otherwise they are rounded to float32).
"""
from __future__ import annotations

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as e:  # pragma: no cover
    raise ImportError("pyqml.interfaces.jax needs JAX: pip install 'pyqml[jax]'") from e

from ..qnode import QNode

__all__ = ["to_jax"]


def to_jax(qnode: QNode):
    """``f(inputs, *weights)`` (weights in the qnode's argument order) differentiable by JAX."""
    if not isinstance(qnode, QNode):
        raise TypeError(f"to_jax needs a pq.qnode, got {type(qnode).__name__}")
    names = [n for n in qnode._names if n != "inputs"]

    def kw(ws):
        return dict(zip(names, [np.asarray(w, dtype=float) for w in ws]))

    def out_shape(inputs, weights):
        probe = qnode(np.zeros(inputs.shape), **kw([np.zeros(w.shape) for w in weights]))
        return jax.ShapeDtypeStruct(np.shape(probe), inputs.dtype)

    def values(inputs, *weights):
        return jax.pure_callback(
            lambda x, *ws: np.asarray(qnode(np.asarray(x, dtype=float), **kw(ws)), dtype=inputs.dtype),
            out_shape(inputs, weights), inputs, *weights)

    @jax.custom_vjp
    def f(inputs, *weights):
        return values(inputs, *weights)

    def fwd(inputs, *weights):
        return values(inputs, *weights), (inputs, weights)

    def bwd(res, cot):
        inputs, weights = res
        shapes = (jax.ShapeDtypeStruct(inputs.shape, inputs.dtype),) + tuple(
            jax.ShapeDtypeStruct(w.shape, w.dtype) for w in weights)

        def host(x, c, *ws):
            _, dw, dx = qnode.vjp(np.asarray(x, dtype=float), cotangent=np.asarray(c, dtype=float), **kw(ws))
            dws = dw if isinstance(dw, tuple) else (dw,)
            return (np.asarray(dx, dtype=inputs.dtype),) + tuple(
                np.asarray(d, dtype=w.dtype).reshape(w.shape) for d, w in zip(dws, weights))

        return jax.pure_callback(host, shapes, inputs, cot, *weights)

    f.defvjp(fwd, bwd)

    def call(inputs, *weights):
        inputs = jnp.asarray(inputs)
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(jnp.result_type(float))
        if len(weights) != len(names):
            raise TypeError(f"{qnode.func.__name__} takes {len(names)} weight argument(s), got {len(weights)}")
        return f(inputs, *[jnp.asarray(w, dtype=inputs.dtype) for w in weights])

    return call
