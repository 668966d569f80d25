"""JAX interface: a qnode as a JAX function with a custom VJP (works under ``jax.jit`` and ``jax.grad``).

>>> f = to_jax(qnode)
>>> jax.grad(lambda w: f(X, w).sum())(W)

The engine runs through ``jax.pure_callback``: one batched call forward, one batched VJP backward, through
the qnode's compiled call (:meth:`pyqml.QNode.compile`). Enable ``jax_enable_x64`` for double-precision
results (otherwise they are rounded to float32).
"""
from __future__ import annotations

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as e:  # pragma: no cover
    raise ImportError("pyqml.interfaces.jax needs JAX: pip install 'pyqml[jax]'") from e

from ..frontend.qnode import QNode

__all__ = ["to_jax"]


def to_jax(qnode: QNode):
    """``f(inputs, *weights)`` (weights in the qnode's argument order) differentiable by JAX."""
    if not isinstance(qnode, QNode):
        raise TypeError(f"to_jax needs a pq.qnode, got {type(qnode).__name__}")
    if not qnode.takes_inputs:
        raise ValueError("to_jax needs a qnode with an argument named 'inputs'")
    names = qnode.weight_names

    def compiled(inputs, weights):
        width = inputs.shape[-1]
        return qnode.compile([tuple(w.shape) for w in weights], width)

    def rows_of(inputs):
        return inputs.shape[0] if inputs.ndim == 2 else None

    def values(inputs, *weights):
        cq = compiled(inputs, weights)
        rows = rows_of(inputs)
        shape = jax.ShapeDtypeStruct(cq.output_shape(rows), inputs.dtype)

        def host(x, *ws):
            x = np.atleast_2d(np.asarray(x, dtype=float))
            vals = cq.expval(cq.pack([np.asarray(w, dtype=float) for w in ws]), x)
            return np.asarray(vals.reshape(shape.shape), dtype=inputs.dtype)

        return jax.pure_callback(host, shape, inputs, *weights)

    @jax.custom_vjp
    def f(inputs, *weights):
        return values(inputs, *weights)

    def fwd(inputs, *weights):
        return values(inputs, *weights), (inputs, weights)

    def bwd(res, cot):
        inputs, weights = res
        cq = compiled(inputs, weights)
        shapes = (jax.ShapeDtypeStruct(inputs.shape, inputs.dtype),) + tuple(
            jax.ShapeDtypeStruct(w.shape, w.dtype) for w in weights)

        def host(x, c, *ws):
            x2 = np.atleast_2d(np.asarray(x, dtype=float))
            c2 = np.asarray(c, dtype=float).reshape(x2.shape[0], cq.n_outputs)
            _, dw, dx = cq.vjp(cq.pack([np.asarray(w, dtype=float) for w in ws]), x2, c2)
            return (np.asarray(dx, dtype=inputs.dtype).reshape(inputs.shape),) + tuple(
                np.asarray(d, dtype=w.dtype).reshape(w.shape) for d, w in zip(cq.unpack(dw), weights))

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
