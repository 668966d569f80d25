"""``@pq.qnode``: a Python function of (inputs, weights) traced once into the circuit IR, then called on
whole batches.

The argument named ``inputs`` carries data (one row of shape (d,) or a batch (B, d)); every other argument
is a trainable weight array. Tracing replaces them by symbolic arrays, so gate angles must be affine in one
input or weight (``pq.RX(2 * inputs[0] + 1, wires=0)``). A new trace happens only when the shapes change.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

import numpy as np

from . import gradients
from .circuit import Circuit
from .measurements import Measurement


class QNode:
    """A traced quantum function. Call it for values, ``.jacobian`` for values and gradients, ``.vjp`` for
    a vector-Jacobian product (what backpropagation through a hybrid model needs)."""

    def __init__(self, func: Callable, wires, method: str = "auto", precision: str = "complex128",
                 diff_method: str = "adjoint"):
        if isinstance(wires, (int, np.integer)):
            n = int(wires)
        else:
            ws = [int(w) for w in wires]
            if sorted(ws) != list(range(len(ws))):
                raise ValueError(f"wires must be an int n or the labels 0..n-1, got {list(wires)}")
            n = len(ws)
        if n < 1:
            raise ValueError(f"a qnode needs at least one wire, got {wires!r}")
        if diff_method not in gradients.DIFF_METHODS:
            raise ValueError(f"diff_method must be one of {gradients.DIFF_METHODS}, got {diff_method!r}")
        self.func = func
        self.n_wires = n
        self.method = method
        self.precision = precision
        self.diff_method = diff_method
        self._sig = inspect.signature(func)
        self._names = list(self._sig.parameters)
        self._traces: dict = {}
        self._expval_executors: dict = {}  # id(traced circuit) -> executor of its expval measurements
        functools.update_wrapper(self, func)

    # --- argument handling ---
    def _split(self, args, kwargs):
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.func.__name__}: {e}") from None
        bound.apply_defaults()
        inputs = None
        weights = []
        for name in self._names:
            val = bound.arguments[name]
            if name == "inputs":
                if val is not None:
                    inputs = np.asarray(val, dtype=float)
                    if inputs.ndim not in (1, 2):
                        raise ValueError(f"inputs must be (d,) or (batch, d), got shape {inputs.shape}")
                    if not np.all(np.isfinite(inputs)):
                        raise ValueError("inputs contain NaN or infinite values")
            else:
                try:
                    arr = np.asarray(val, dtype=float)
                except (TypeError, ValueError):
                    raise TypeError(f"{name} must be an array of real numbers, got {type(val).__name__}") from None
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"{name} contains NaN or infinite values")
                weights.append((name, arr))
        return inputs, weights

    def trace(self, n_inputs: int | None, weight_shapes: tuple) -> tuple[Circuit, list[Measurement], bool]:
        """The circuit and measurements for inputs of width n_inputs and weights of the given shapes."""
        key = (n_inputs, weight_shapes)
        hit = self._traces.get(key)
        if hit is not None:
            return hit
        c = Circuit(self.n_wires)
        call = {}
        for name, shape in zip([n for n in self._names if n != "inputs"], weight_shapes):
            if shape == ():
                call[name] = c.new_weights(1)[0]
            else:
                call[name] = c.new_weights(*shape)
        if "inputs" in self._names:
            call["inputs"] = None if n_inputs is None else c.new_inputs(n_inputs)
        with c:
            try:
                out = self.func(**call)
            except IndexError as e:
                shapes = ", ".join(f"{n}: {s}" for n, s in zip([n for n in self._names if n != "inputs"],
                                                              weight_shapes))
                raise ValueError(f"{self.func.__name__} indexes past its arguments ({e}); it was called with "
                                 f"inputs of width {n_inputs} and weights of shape {{{shapes}}}") from e
        many = isinstance(out, (list, tuple))
        meas = list(out) if many else [out]
        for m in meas:
            if not isinstance(m, Measurement):
                raise TypeError(f"{self.func.__name__} must return measurements (pq.expval, pq.probs, ...), "
                                f"got {type(m).__name__}")
        for op in c.ops:
            for w in op.wires:
                if w >= self.n_wires:
                    raise ValueError(f"{op.name} on wire {w}, but the qnode has {self.n_wires} wires")
        hit = (c, meas, many)
        self._traces[key] = hit
        return hit

    def _prepare(self, args, kwargs):
        inputs, weights = self._split(args, kwargs)
        batched = inputs is not None and inputs.ndim == 2
        x = None if inputs is None else (inputs if batched else inputs[None, :])
        shapes = tuple(w.shape for _, w in weights)
        circuit, meas, many = self.trace(None if x is None else x.shape[1], shapes)
        if x is not None and circuit.derived_inputs is not None:
            x = circuit.derived_inputs.expand(x)  # raw columns first, then the derived ones
        wvec = np.concatenate([w.ravel() for _, w in weights]) if weights else np.zeros(0)
        return circuit, meas, many, wvec, x, batched, weights

    # --- evaluation ---
    def __call__(self, *args, **kwargs):
        circuit, meas, many, w, x, batched, _ = self._prepare(args, kwargs)
        if all(m.kind == "expval" for m in meas):
            vals = self._expval_executor(circuit, meas).expval(w, x)
            if not batched:
                vals = vals[0]
            return vals if many else vals[..., 0]
        results = [self._measure(circuit, m, w, x, batched) for m in meas]
        return tuple(results) if many else results[0]

    def _measure(self, circuit, m: Measurement, w, x, batched):
        if m.kind in ("expval", "var"):
            ex = circuit.executor([m.obs], self.method if m.kind == "expval" else "statevector", self.precision)
            out = (ex.expval if m.kind == "expval" else ex.var)(w, x)[:, 0]
        else:
            ex = circuit.executor([], "statevector", self.precision)
            wires = m.wires if m.wires is not None else list(range(self.n_wires))
            if m.kind == "probs":
                out = ex.probs(w, x, wires)
            elif m.kind == "state":
                out = ex.state(w, x)
            elif m.kind == "sample":
                out = ex.sample(w, x, wires, m.shots, m.seed)
            else:
                raise ValueError(f"unknown measurement {m.kind}")
        return out if batched else out[0]

    def _expval_executor(self, circuit, meas):
        if not all(m.kind == "expval" for m in meas):
            raise ValueError("gradients are defined for expectation values only; the qnode returns "
                             + ", ".join(m.kind for m in meas))
        ex = self._expval_executors.get(id(circuit))
        if ex is None:
            ex = circuit.executor([m.obs for m in meas], self.method, self.precision)
            self._expval_executors[id(circuit)] = ex
        return ex

    def jacobian(self, *args, **kwargs):
        """``vals, d_weights, d_inputs``: (B, n_obs), (B, n_obs, *W.shape), (B, n_obs, d).

        Without a batch axis on inputs the leading B is dropped; with one returned measurement (not a list)
        the n_obs axis is dropped. With several weight arguments, d_weights is a tuple (one per argument).
        """
        circuit, meas, many, w, x, batched, weights = self._prepare(args, kwargs)
        ex = self._expval_executor(circuit, meas)
        vals, dw, dx = gradients.jacobian(ex, circuit, w, x, self.diff_method)
        if x is not None and circuit.derived_inputs is not None:
            dx = circuit.derived_inputs.pullback(x, dx)
        parts, off = [], 0
        for _, arr in weights:
            parts.append(dw[:, :, off:off + arr.size].reshape(dw.shape[:2] + arr.shape))
            off += arr.size
        if not batched:
            vals, dx = vals[0], dx[0]
            parts = [p[0] for p in parts]
        if not many:
            vals, dx = vals[..., 0], dx[..., 0, :]
            parts = [np.take(p, 0, axis=1 if batched else 0) for p in parts]
        d_weights = parts[0] if len(parts) == 1 else tuple(parts)
        if x is None:
            dx = None
        return vals, d_weights, dx

    def vjp(self, *args, cotangent, **kwargs):
        """``vals, cot . d/dweights, cot . d/dinputs`` for a cotangent of the values' shape."""
        circuit, meas, many, w, x, batched, weights = self._prepare(args, kwargs)
        ex = self._expval_executor(circuit, meas)
        cot = np.asarray(cotangent, dtype=float)
        rows = 1 if x is None else x.shape[0]
        if cot.size != rows * len(meas):
            raise ValueError(f"cotangent must have the values' shape ({rows} row(s) x {len(meas)} "
                             f"measurement(s)), got shape {cot.shape}")
        cot = cot.reshape(rows, len(meas))
        vals, dw, dx = gradients.vjp(ex, circuit, w, x, cot, self.diff_method)
        if x is not None and circuit.derived_inputs is not None:
            dx = circuit.derived_inputs.pullback(x, dx)
        parts, off = [], 0
        for _, arr in weights:
            parts.append(dw[off:off + arr.size].reshape(arr.shape))
            off += arr.size
        if not batched:
            vals, dx = vals[0], dx[0]
        if not many:
            vals = vals[..., 0]
        d_weights = parts[0] if len(parts) == 1 else tuple(parts)
        return vals, d_weights, (None if x is None else dx)

    def circuit(self, *args, **kwargs) -> Circuit:
        """The traced circuit for these arguments' shapes."""
        return self._prepare(args, kwargs)[0]


def qnode(wires, method: str = "auto", precision: str = "complex128", diff_method: str = "adjoint"):
    """Decorator: trace ``func(inputs, weights, ...)`` into a :class:`QNode`.

    Parameters
    ----------
    wires : int or sequence
        Number of wires (or the labels 0..n-1).
    method : {"auto", "statevector", "tensornet"}
    precision : {"complex128", "complex64"}
    diff_method : {"adjoint", "parameter-shift", "finite-diff"}
    """
    if callable(wires) and not isinstance(wires, (int, np.integer)):
        raise TypeError("use @pq.qnode(wires=n), with parentheses")

    def deco(func: Callable) -> QNode:
        return QNode(func, wires, method=method, precision=precision, diff_method=diff_method)

    return deco
