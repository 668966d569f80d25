"""``@pq.qnode``: a Python function of (weights, data) traced once into the circuit IR, then called on
whole batches.

Each argument of the traced function is one of three kinds, decided by the qnode's declaration and the
value's type, never by its name alone:

* **data**: the arguments named by ``@pq.qnode(..., inputs=("x",))``: one row (a scalar, or shape (d,)) or a
  batch of rows (B, d); the rows of every data argument run as one batched engine call. Without ``inputs=``,
  an argument named ``inputs`` is the data argument (the documented default of earlier releases);
  ``inputs=()`` declares that there is none.
* **static**: Python ``int``, ``bool`` or ``str`` values (``layers=3``), and ``None`` where it is the
  argument's default: passed to the function as they are and part of the trace's key, never weights.
* **weights**: every other argument, an array (or float) of real numbers shared by all rows.

Tracing replaces weights and data by symbolic arrays, so gate angles must be affine in one input or weight
(``pq.RX(2 * x[0] + 1, wires=0)``). A new trace happens only when the shapes (or the static values) change.

Called with autograd arrays (inside ``pq.grad``, ``pq.jacobian`` or an optimiser step) a qnode is an autograd
primitive whose vector-Jacobian product is the engine's (``pyqml/frontend/autodiff.py``).

Code that drives a qnode many times (hybrid models, optimisers, the torch and JAX bridges) compiles it once
for its shapes with :meth:`QNode.compile` and calls the returned :class:`CompiledQNode` on flat arrays::

    cq = f.compile({"weights": (2, 4, 3)}, n_inputs=4)
    vals = cq.expval(cq.pack([W]), X)                 # (B, n_obs)
    vals, dw, dx = cq.vjp(cq.pack([W]), X, cot)       # dw flat (n_weights,), dx (B, 4)
    dW, = cq.unpack(dw)
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Callable

import numpy as np

from .. import _core
from . import gradients
from .circuit import Circuit
from .execution import check_options
from .measurements import Measurement, real_array

_all_finite = _core._all_finite


def _shape(s) -> tuple:
    if isinstance(s, (int, np.integer)):
        return (int(s),)
    return tuple(int(d) for d in s)


class CompiledQNode:
    """A qnode traced for fixed weight shapes and input width: the circuit, its measurements and the
    executors that run them, called on flat arrays.

    ``weights`` is the flat weight vector (n_weights,) shared by every row, or (rows, n_weights); ``inputs`` is
    (rows, n_inputs) of raw features (derived columns are added here) or None.

    Attributes
    ----------
    circuit : Circuit
    measurements : list of Measurement
    many : bool
        The traced function returned a list (values keep their measurement axis).
    weight_names : list of str
    weight_shapes : list of tuple
    n_inputs : int or None
    """

    def __init__(self, qnode: QNode, circuit: Circuit, measurements: list, many: bool, weight_shapes, n_inputs,
                 weight_names=None):
        self.qnode = qnode
        self.circuit = circuit
        self.measurements = measurements
        self.many = many
        self.weight_names = list(qnode.weight_names if weight_names is None else weight_names)
        self.weight_shapes = [tuple(s) for s in weight_shapes]
        self.n_inputs = n_inputs
        self.expval_only = all(m.kind == "expval" for m in measurements)
        self._expval_ex = None

    def shot_count(self, shots=None) -> int | None:
        """The shots a call runs with: ``shots`` when given (one count), else the qnode's (None: exact)."""
        if shots is None and self.qnode.shots is None:
            return None
        from .shots import check_shots

        vec = check_shots(shots) if shots is not None else self.qnode.shots
        if vec is None:
            return None
        if len(vec) != 1:
            raise ValueError(f"a compiled call takes one shot count, got the shot vector {list(vec)}")
        return vec[0]

    # --- flat arrays ---
    @property
    def n_weights(self) -> int:
        return self.circuit.n_weights

    @property
    def n_outputs(self) -> int:
        return len(self.measurements)

    def pack(self, weights) -> np.ndarray:
        """The flat weight vector of the weight arrays (a sequence in argument order, or a name -> array map)."""
        if type(weights) is list and len(weights) == 1 and len(self.weight_shapes) == 1:
            arr = weights[0]
            if type(arr) is np.ndarray and arr.dtype == np.float64 and arr.shape == self.weight_shapes[0]:
                return arr.ravel().copy()  # one float array of the compiled shape (the common call)
        if isinstance(weights, Mapping):
            weights = [weights[n] for n in self.weight_names]
        if len(weights) != len(self.weight_shapes):
            raise TypeError(f"{self.qnode.__name__} takes {len(self.weight_shapes)} weight argument(s), got "
                            f"{len(weights)}")
        parts = []
        for name, shape, w in zip(self.weight_names, self.weight_shapes, weights):
            arr = np.asarray(w, dtype=float)
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}, compiled for {shape}")
            parts.append(arr.ravel())
        if len(parts) == 1:
            return parts[0].copy()
        return np.concatenate(parts) if parts else np.zeros(0)

    def unpack(self, flat: np.ndarray, lead: tuple = ()) -> tuple:
        """Split a gradient whose last axis runs over the flat weights into one array per weight argument."""
        flat = np.asarray(flat)
        out, off = [], 0
        for shape in self.weight_shapes:
            size = math.prod(shape)
            out.append(flat[..., off:off + size].reshape(flat.shape[:-1] + shape))
            off += size
        return tuple(out)

    def expand(self, x):
        """Raw input rows -> the rows the engine reads (derived input columns appended)."""
        if x is None:
            return None
        x = np.ascontiguousarray(x, dtype=float)
        if self.circuit.derived_inputs is not None:
            x = self.circuit.derived_inputs.expand(x)
        return x

    def output_shape(self, rows: int | None) -> tuple:
        """Shape of the values for ``rows`` input rows (None: one unbatched row), expectation values only."""
        lead = () if rows is None else (int(rows),)
        return lead + ((self.n_outputs,) if self.many else ())

    # --- execution (expectation values) ---
    def executor(self):
        """The executor of the expectation values (built once)."""
        if not self.expval_only:
            raise ValueError("gradients are defined for expectation values only; the qnode returns "
                             + ", ".join(m.kind for m in self.measurements))
        if self._expval_ex is None:
            q = self.qnode
            self._expval_ex = self.circuit.executor([m.obs for m in self.measurements], q.method, q.precision,
                                                    **q.options)
        return self._expval_ex

    def expval(self, weights, inputs=None, shots=None) -> np.ndarray:
        """(rows, n_obs) expectation values; estimated from shots when the qnode (or ``shots=``) sets them."""
        n = self.shot_count(shots)
        if n is not None:
            from .shots import estimate_expvals

            self.executor()
            q = self.qnode
            return estimate_expvals(self.circuit, [m.obs for m in self.measurements], weights, self.expand(inputs),
                                    n, q.rng, q.method, q.precision, q.options).values
        return self.executor().expval(weights, self.expand(inputs))

    def _shot_jacobian(self, weights, xe, n):
        from .shots import parameter_shift_jacobian

        self.executor()
        q = self.qnode
        vals, dw, dx, _ = parameter_shift_jacobian(self.circuit, [m.obs for m in self.measurements], weights, xe, n,
                                                   q.rng, q.method, q.precision, q.options)
        return vals, dw, dx

    def jacobian(self, weights, inputs=None, shots=None):
        """values (rows, n_obs), d/dweights (rows, n_obs, n_weights), d/dinputs (rows, n_obs, n_raw_inputs).

        With shots: every gate's shift rule, each shifted expectation estimated from the shots."""
        xe = self.expand(inputs)
        n = self.shot_count(shots)
        if n is not None:
            vals, dw, dx = self._shot_jacobian(weights, xe, n)
        else:
            vals, dw, dx = gradients.jacobian(self.executor(), self.circuit, weights, xe, self.qnode.diff_method)
        if xe is not None and self.circuit.derived_inputs is not None:
            dx = self.circuit.derived_inputs.pullback(xe, dx)
        return vals, dw, dx

    def forward(self, weights, inputs=None, need_dx: bool = False):
        """(values, saved): :meth:`expval` (exact) and a handle that :meth:`vjp` on the same weights and inputs
        takes as ``saved=`` to run only the backward part (the state vector keeps what its forward computed;
        other engines, and qnodes with shots, give None and the VJP recomputes). The handle owns copies of the
        weights and inputs it ran on: a VJP on other contents does not use it. ``need_dx``: that VJP will ask
        for the input gradients."""
        if self.shot_count(None) is not None or self.qnode.diff_method != "adjoint":
            return self.expval(weights, inputs), None
        ex = self.executor()
        if not hasattr(ex, "forward"):
            return ex.expval(weights, self.expand(inputs)), None
        return ex.forward(weights, self.expand(inputs), need_dx=need_dx)

    def vjp(self, weights, inputs, cotangent, shots=None, need_dx: bool = True, saved=None):
        """values, cot . d/dweights (n_weights,), cot . d/dinputs (rows, n_raw_inputs).

        ``need_dx=False``: the caller does not use the input gradients; an engine that can skip them does
        (the state vector: dx is then None). ``saved``: the handle of :meth:`forward` on the same batch."""
        xe = self.expand(inputs)
        cot = np.ascontiguousarray(cotangent, dtype=float)
        n = self.shot_count(shots)
        if saved is not None and n is None and self.qnode.diff_method == "adjoint":
            vals, dw, dx = self.executor().vjp(weights, xe, cot, need_dx=need_dx, saved=saved)
            if dx is not None and xe is not None and self.circuit.derived_inputs is not None:
                dx = self.circuit.derived_inputs.pullback(xe, dx)
            return vals, dw, dx
        if n is not None:
            vals, dw, dx = self._shot_jacobian(weights, xe, n)
            dw, dx = np.einsum("ro,row->w", cot, dw), np.einsum("ro,rox->rx", cot, dx)
        else:
            vals, dw, dx = gradients.vjp(self.executor(), self.circuit, weights, xe, cot, self.qnode.diff_method,
                                         need_dx=need_dx)
        if dx is not None and xe is not None and self.circuit.derived_inputs is not None:
            dx = self.circuit.derived_inputs.pullback(xe, dx)
        return vals, dw, dx

    # --- any measurement ---
    def measure(self, weights, inputs=None, shots=None) -> list:
        """Every measurement's result with a leading row axis, in the traced function's order."""
        n = self.shot_count(shots)
        if self.expval_only:
            vals = self.expval(weights, inputs, shots)
            return [vals[:, i] for i in range(vals.shape[1])]
        if n is not None or any(m.kind == "sample" and m.obs is not None for m in self.measurements):
            return self._measure_shots(weights, inputs, n)
        xe = self.expand(inputs)
        return [self._measure_exact(m, weights, xe) for m in self.measurements]

    def _measure_exact(self, m, weights, xe):
        q = self.qnode
        if m.kind in ("expval", "var"):
            ex = self.circuit.executor([m.obs], q.method, q.precision, measurement=m.kind, **q.options)
            return getattr(ex, m.kind)(weights, xe)[:, 0]
        ex = self.circuit.executor([], q.method, q.precision, measurement=m.kind, **q.options)
        wires = m.wires if m.wires is not None else list(range(self.circuit.n_wires))
        if m.kind == "probs":
            return ex.probs(weights, xe, wires)
        if m.kind == "state":
            return ex.state(weights, xe)
        if m.kind == "sample":
            return ex.sample(weights, xe, wires, 1000 if m.shots is None else m.shots, 0 if m.seed is None else m.seed)
        raise ValueError(f"unknown measurement {m.kind}")

    def _measure_shots(self, weights, inputs, n) -> list:
        """:meth:`measure` with finite shots: every result drawn from ``n`` shots (a sample's own ``shots=``
        wins for that sample)."""
        from . import shots as S

        xe = self.expand(inputs)
        q = self.qnode
        args = (q.method, q.precision, q.options)
        out = []
        for m in self.measurements:
            count = m.shots if (m.kind == "sample" and m.shots is not None) else n
            if count is None:
                if m.kind == "sample" and m.obs is not None:
                    raise ValueError("pq.sample(op) needs finite shots: pass shots= to the qnode, the device or "
                                     "pq.sample")
                out.append(self._measure_exact(m, weights, xe))
                continue
            rng = q.rng if not (m.kind == "sample" and m.seed is not None) else S.as_rng(m.seed)
            wires = m.wires if m.wires is not None else list(range(self.circuit.n_wires))
            if m.kind == "expval":
                out.append(S.estimate_expvals(self.circuit, [m.obs], weights, xe, count, rng, *args).values[:, 0])
            elif m.kind == "var":
                out.append(S.estimate_vars(self.circuit, [m.obs], weights, xe, count, rng, *args)[:, 0])
            elif m.kind == "probs":
                out.append(S.estimate_probs(self.circuit, wires, weights, xe, count, rng, *args))
            elif m.kind == "sample" and m.obs is not None:
                out.append(S.sample_observable(self.circuit, m.obs, weights, xe, count, rng, *args))
            elif m.kind == "sample":
                out.append(S.bit_samples(self.circuit, wires, weights, xe, count, rng, *args))
            else:
                raise ValueError(f"{m.kind}() is not available with finite shots (hardware gives samples only)")
        return out


def _by_name(cq: CompiledQNode, weights: list, data: list, dw, dx) -> dict:
    """The engine's flat weight gradient and input-row gradient split into one array per argument."""
    out = {}
    for (name, a), g in zip(weights, cq.unpack(dw)):
        out[name] = np.asarray(g).reshape(a.shape)
    off = 0
    for name, a in data:
        width = int(np.prod(a.shape[1:] if a.ndim == 2 else a.shape))
        block = dx[:, off:off + width]
        off += width
        if a.ndim == 2:
            out[name] = block.reshape(a.shape)
        else:  # one row (broadcast over every row of the other data arguments): the rows' gradients add up
            out[name] = block.sum(axis=0).reshape(a.shape)
    return out


_MISS = object()
_F64 = np.dtype(np.float64)


class _FastCall:
    """A warm qnode call of expectation values on positional float64 arrays: the finiteness check of every
    argument in one engine call, the flat weights as a view, the executor called directly. Any other input
    (a non-finite value) returns _MISS, and the general path raises its error by name."""

    __slots__ = ("expval", "expand", "ix", "weights", "batched", "many", "width")

    def __init__(self, cq: CompiledQNode, ix: int, weights: list, batched: bool):
        self.expval = cq.executor().expval
        self.expand = cq.expand if cq.circuit.derived_inputs is not None else None
        self.ix, self.weights, self.batched, self.many = ix, tuple(weights), batched, cq.many
        self.width = cq.n_inputs

    def __call__(self, args):
        if not _all_finite(*args):
            return _MISS
        w, x = _pack_args(args, self.weights, self.ix, self.batched, self.width)
        if x is not None and self.expand is not None:
            x = self.expand(x)
        vals = self.expval(w, x)
        if not self.batched:
            vals = vals[0]
        return vals if self.many else vals[..., 0]


def _pack_args(args, weights: tuple, ix: int, batched: bool, width: int):
    """The fast paths' engine arguments: the weight arguments as one flat vector (a view for one argument),
    the inputs as (rows, width) rows (None without inputs)."""
    if len(weights) == 1:
        w = args[weights[0]].reshape(-1)
    else:
        w = np.concatenate([args[i].reshape(-1) for i in weights]) if weights else np.zeros(0)
    if ix < 0:
        return w, None
    x = args[ix]
    return w, (x if batched else x.reshape(1, width))


def _shape_jacobian(cq: CompiledQNode, vals, dw, dx, batched: bool, has_x: bool):
    """The engine's (rows, n_obs), (rows, n_obs, n_weights), (rows, n_obs, n_inputs) in the layout
    :meth:`QNode.jacobian` returns: views of the engine's arrays (its layout is already the final one), the
    row axis dropped for one unbatched row, the measurement axis for one returned measurement, the flat weight
    axis split into one block per weight argument."""
    parts = cq.unpack(dw)
    if not batched:
        vals, dx = vals[0], dx[0]
        parts = [p[0] for p in parts]
    if not cq.many:
        vals, dx = vals[..., 0], dx[..., 0, :]
        parts = [p[:, 0] if batched else p[0] for p in parts]
    d_weights = parts[0] if len(parts) == 1 else tuple(parts)
    return vals, d_weights, (dx if has_x else None)


class _FastJacobian:
    """A warm ``QNode.jacobian`` on positional float64 arrays (the key of :meth:`QNode._fast_key`), exact and by
    the adjoint method: the finiteness check of every argument in one engine call, the flat weights as a view,
    the executor's jacobian called directly, the results reshaped as views. Any other input (a non-finite
    value) returns _MISS, and the general path raises its error by name."""

    __slots__ = ("cq", "jac", "ix", "weights", "batched", "width")

    def __init__(self, cq: CompiledQNode, ix: int, weights: list, batched: bool):
        self.cq = cq
        self.jac = cq.executor().jacobian
        self.ix, self.weights, self.batched = ix, tuple(weights), batched
        self.width = cq.n_inputs

    def __call__(self, args):
        if not _all_finite(*args):
            return _MISS
        w, x = _pack_args(args, self.weights, self.ix, self.batched, self.width)
        vals, dw, dx = self.jac(w, x)
        return _shape_jacobian(self.cq, vals, dw, dx, self.batched, x is not None)


def _autodiff():
    """pyqml.frontend.autodiff, imported on first use (it imports this module)."""
    global _AUTODIFF
    if _AUTODIFF is None:
        from . import autodiff

        _AUTODIFF = autodiff
    return _AUTODIFF


_AUTODIFF = None


def _is_static(value) -> bool:
    """Python scalars that are not real-valued data (``layers=3``, flags, names): passed through."""
    return isinstance(value, (bool, np.bool_, str, int, np.integer))


def _data_names(names: list, inputs) -> tuple:
    if inputs is None:
        return ("inputs",) if "inputs" in names else ()
    declared = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    for n in declared:
        if not isinstance(n, str):
            raise TypeError(f"inputs= names the data arguments (strings), got {n!r}")
        if n not in names:
            raise ValueError(f"inputs= names {n!r}, which is not an argument of the function (arguments: {names})")
    if len(set(declared)) != len(declared):
        raise ValueError(f"inputs= names an argument twice: {list(declared)}")
    return declared


class QNode:
    """A traced quantum function. Call it for values, ``.jacobian`` for values and gradients, ``.vjp`` for
    a vector-Jacobian product (what backpropagation through a hybrid model needs), ``.compile`` for the
    compiled call that hybrid models, optimisers and the torch / JAX bridges use."""

    def __init__(self, func: Callable, wires, method: str = "auto", precision: str = "complex128",
                 diff_method: str = "adjoint", inputs=None, shots=None, seed=None, **options):
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
        check_options(method, precision, options)
        from .shots import check_seed, check_shots

        # Finite shots (None: exact). One generator per qnode (or shared with its device): one seed
        # reproduces every call's draws in sequence, and successive calls draw fresh shots. Built on first
        # use (``rng``): exact qnodes never import numpy.random.
        self.shots = check_shots(shots)
        self.shot_vector = isinstance(shots, (list, tuple, np.ndarray))
        self._seed = check_seed(seed)
        self._rng = None
        self.func = func
        self.n_wires = n
        self.method = method
        self.precision = precision
        self.diff_method = diff_method
        self.options = dict(options)
        self._sig = inspect.signature(func)
        self._names = list(self._sig.parameters)
        self._data = _data_names(self._names, inputs)
        self._traces: dict = {}
        self._compiled: dict = {}
        # (weight shapes, input width, static, data shapes) of a call -> its CompiledQNode: the warm call's
        # lookup, without rebuilding compile()'s key (filled by _prepare_split after compile validated it).
        self._by_call: dict = {}
        # Every argument positional-or-keyword: a call with all of them positionally binds by zip.
        self._plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in self._sig.parameters.values())
        # The warm call of expectation values (``_call_fast``): call keys -> _FastCall, filled after a general
        # call of the same key succeeded. The position of the one data argument (-1: none; None: several,
        # no fast calls).
        self._fast: dict = {}
        # The same for ``jacobian``: call keys -> _FastJacobian (None: a key whose jacobian takes the general path).
        self._fast_jac: dict = {}
        self._fast_ix = (-1 if not self._data else
                         self._names.index(self._data[0]) if len(self._data) == 1 else None)
        functools.update_wrapper(self, func)

    @property
    def rng(self):
        """The qnode's random generator (numpy ``Generator``) for finite shots: from ``seed=`` (or the
        device's), built on first use."""
        if self._rng is None:
            from .shots import as_rng

            self._rng = as_rng(self._seed)
        return self._rng

    @rng.setter
    def rng(self, value) -> None:
        from .shots import as_rng

        self._rng = as_rng(value)

    # --- arguments ---
    @property
    def arg_names(self) -> list[str]:
        """The traced function's argument names, in order."""
        return list(self._names)

    @property
    def data_names(self) -> list[str]:
        """The data arguments (``inputs=`` of the decorator; by default an argument named ``inputs``)."""
        return list(self._data)

    @property
    def weight_names(self) -> list[str]:
        """The arguments that are not data, in order: trainable weights unless a call passes a static value
        (a Python int, bool or str) for one."""
        return [n for n in self._names if n not in self._data]

    @property
    def takes_inputs(self) -> bool:
        """Whether the qnode has a data argument."""
        return bool(self._data)

    def bind_trainable(self, args: Sequence, kwargs: Mapping | None = None) -> dict:
        """Keyword arguments for a call: positional ``args`` bound to the weight arguments in order, merged
        with ``kwargs`` (e.g. ``inputs=X``)."""
        names = self.weight_names
        if len(args) > len(names):
            raise TypeError(f"{self.func.__name__} takes {len(names)} weight argument(s), got {len(args)}")
        return {**(kwargs or {}), **dict(zip(names, args))}

    def bind(self, args: Sequence, kwargs: Mapping | None = None) -> dict:
        """Every argument by name (defaults applied) for a call with these arguments."""
        if not kwargs and self._plain and len(args) == len(self._names):
            return dict(zip(self._names, args))
        try:
            bound = self._sig.bind(*args, **(kwargs or {}))
        except TypeError as e:
            raise TypeError(f"{self.func.__name__}: {e}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def binds_positionally(self, args: Sequence, kwargs: Mapping | None = None) -> bool:
        """Whether ``f(*args, **kwargs)`` binds as a plain call; otherwise :meth:`bind_call` binds the
        positional arguments to the weight arguments (``opt.step(f, W, inputs=X)`` for ``f(inputs, weights)``)."""
        try:
            self._sig.bind(*args, **(kwargs or {}))
            return True
        except TypeError:
            return False

    def bind_call(self, args: Sequence, kwargs: Mapping | None = None) -> dict:
        """Every argument by name for a call from an optimiser or a transform: the function's own binding,
        or, when that fails because data come by keyword, positional arguments bound to the weight arguments
        in order (the convention of earlier releases)."""
        if self.binds_positionally(args, kwargs):
            return self.bind(args, kwargs)
        return self.bind((), self.bind_trainable(args, kwargs))

    def flatten(self, *args, **kwargs):
        """``(compiled, weights, rows, batched)``: the compiled call for these arguments, the flat weight
        vector, the data as (rows, n_inputs) raw features (None without data) and whether they were batched."""
        return self._prepare_split(*self._split_bound(self.bind_call(args, kwargs)))

    def _split(self, args, kwargs):
        """``(data, weights, static)``: data as [(name, array)], weights as [(name, array)], static as a
        sorted tuple of (name, value)."""
        return self._split_bound(self.bind(args, kwargs))

    def _split_bound(self, arguments: Mapping):
        data, weights, static = [], [], []
        for name in self._names:
            val = arguments[name]
            if name in self._data:
                if val is None and len(self._data) == 1:
                    continue  # no data: the trace gets None
                arr = real_array(val, name)
                if arr.ndim > 2:
                    raise ValueError(f"{name} must be one row of data (a scalar or shape (d,)) or a batch "
                                     f"(rows, d), got shape {arr.shape}")
                data.append((name, arr))
            elif _is_static(val) or (val is None and self._sig.parameters[name].default is None):
                static.append((name, val))  # None only as the argument's own default (``bias=None``)
            else:
                weights.append((name, real_array(val, name)))
        return data, weights, tuple(static)

    # --- tracing and compiling ---
    def trace(self, n_inputs: int | None, weight_shapes: tuple, static: tuple = (),
              data_shapes: tuple | None = None) -> tuple[Circuit, list[Measurement], bool]:
        """The circuit and measurements for inputs of width n_inputs and weights of the given shapes.

        ``static`` holds the (name, value) pairs passed through; ``data_shapes`` the per-row shape of each
        data argument (``()`` for a scalar, ``(d,)`` for a vector; by default one data argument of width
        n_inputs)."""
        static = tuple(static)
        if data_shapes is None:
            data_shapes = () if n_inputs is None else ((int(n_inputs),),)
        key = (n_inputs, weight_shapes, static, data_shapes)
        hit = self._traces.get(key)
        if hit is not None:
            return hit
        static_names = {n for n, _ in static}
        names = [n for n in self.weight_names if n not in static_names]
        c = Circuit(self.n_wires)
        call = dict(static)
        for name, shape in zip(names, weight_shapes):
            if shape == ():
                call[name] = c.new_weights(1)[0]
            else:
                call[name] = c.new_weights(*shape)
        if n_inputs is None:
            for name in self._data:
                call[name] = None
        else:
            row = c.new_inputs(n_inputs)
            off = 0
            for name, shape in zip(self._data, data_shapes):
                width = int(np.prod(shape)) if shape else 1
                call[name] = row[off] if shape == () else row[off:off + width]
                off += width
        with c:
            try:
                out = self.func(**call)
            except IndexError as e:
                shapes = ", ".join(f"{n}: {s}" for n, s in zip(names, weight_shapes))
                raise ValueError(f"{self.func.__name__} indexes past its arguments ({e}); it was called with "
                                 f"inputs of width {n_inputs} and weights of shape {{{shapes}}}") from e
            except TypeError as e:
                if "each parameter must be a scalar" not in str(e) or not names:
                    raise
                raise TypeError(f"{e}. An argument holding several rows of data must be declared data: "
                                f"@pq.qnode(wires={self.n_wires}, inputs=(\"<name>\",)); the qnode's data "
                                f"arguments are {list(self._data)}") from e
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

    def compile(self, weight_shapes, n_inputs: int | None = None, static: Mapping | tuple = (),
                data_shapes: tuple | None = None) -> CompiledQNode:
        """The qnode compiled for these weight shapes (a sequence in argument order, or a name -> shape map)
        and input width (raw features per row; None when the qnode takes no inputs).

        ``static`` maps arguments passed through as Python values (``{"layers": 3}``); ``data_shapes``
        gives the per-row shape of each data argument when there are several (their features are
        concatenated into one input row, in the order of ``inputs=``)."""
        static = tuple(sorted(static.items())) if isinstance(static, Mapping) else tuple(static)
        static_names = {n for n, _ in static}
        names = [n for n in self.weight_names if n not in static_names]
        if isinstance(weight_shapes, Mapping):
            if sorted(weight_shapes) != sorted(names):
                raise ValueError(f"weight_shapes names {sorted(weight_shapes)} do not match the qnode's weight "
                                 f"arguments {names}")
            weight_shapes = [weight_shapes[n] for n in names]
        shapes = tuple(_shape(s) for s in weight_shapes)
        if len(shapes) != len(names):
            raise TypeError(f"{self.func.__name__} takes {len(names)} weight argument(s), got "
                            f"{len(shapes)} shapes")
        if data_shapes is not None:
            data_shapes = tuple(tuple(int(d) for d in s) for s in data_shapes)
        key = (None if n_inputs is None else int(n_inputs), shapes, static, data_shapes)
        hit = self._compiled.get(key)
        if hit is None:
            circuit, meas, many = self.trace(key[0], shapes, static, data_shapes)
            hit = CompiledQNode(self, circuit, meas, many, shapes, key[0], names)
            self._compiled[key] = hit
        return hit

    def _call_shots(self, kwargs) -> tuple[dict, tuple | None, bool]:
        """A call-time ``shots=`` (PennyLane's ``circuit(x, shots=100)``), unless the function takes ``shots``."""
        if "shots" in kwargs and "shots" not in self._names:
            from .shots import check_shots

            kwargs = dict(kwargs)
            raw = kwargs.pop("shots")
            return kwargs, check_shots(raw), isinstance(raw, (list, tuple, np.ndarray))
        return kwargs, self.shots, self.shot_vector

    def _rows(self, data):
        """The data arguments as one (rows, n_inputs) array: ``(x or None, batched, per-row shapes)``."""
        if not data:
            return None, False, None
        if len(data) == 1:  # one data argument (the common case): no concatenation
            a = data[0][1]
            if a.ndim == 2:
                return np.ascontiguousarray(a, dtype=float), True, (a.shape[1:],)
            return np.ascontiguousarray(a, dtype=float).reshape(1, a.size), False, (a.shape,)
        rows = {a.shape[0] for _, a in data if a.ndim == 2}
        if len(rows) > 1:
            raise ValueError("data arguments hold different numbers of rows: "
                             + ", ".join(f"{n}: {a.shape}" for n, a in data))
        batched = bool(rows)
        n_rows = rows.pop() if batched else 1
        parts, shapes = [], []
        for _, a in data:
            row_shape = a.shape[1:] if a.ndim == 2 else a.shape
            shapes.append(tuple(row_shape))
            flat = a.reshape(n_rows, -1) if a.ndim == 2 else np.broadcast_to(a.reshape(1, -1), (n_rows, a.size))
            parts.append(flat)
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return np.ascontiguousarray(x, dtype=float), batched, tuple(shapes)

    def _prepare(self, args, kwargs):
        return self._prepare_split(*self._split(args, kwargs))

    def _prepare_split(self, data, weights, static):
        x, batched, data_shapes = self._rows(data)
        default_shapes = data_shapes is None or (len(data_shapes) == 1 and len(data_shapes[0]) == 1)
        shapes = tuple(w.shape for _, w in weights)
        call_key = (shapes, None if x is None else x.shape[1], static, None if default_shapes else data_shapes)
        cq = self._by_call.get(call_key)
        if cq is None:
            cq = self.compile(list(shapes), call_key[1], static, call_key[3])
            self._by_call[call_key] = cq
        w = cq.pack([a for _, a in weights])
        return cq, w, x, batched

    # --- evaluation ---
    def __call__(self, *args, **kwargs):
        if not kwargs and self._fast:
            out = self._call_fast(args)
            if out is not _MISS:
                return out
        kwargs, shots, vector = self._call_shots(kwargs)
        arguments = self.bind(args, kwargs)
        autodiff = _autodiff()
        if autodiff.any_traced(arguments.values()):
            if shots is not self.shots:
                raise ValueError("a call-time shots= cannot be differentiated: set shots= on the qnode (or its "
                                 "device), whose gradients are then the shift rules on sampled expectations")
            return autodiff.call_traced(self, arguments)
        if shots is not None:
            per = [self.evaluate(arguments, n) for n in shots]
            return tuple(per) if vector else per[0]
        out = self.evaluate(arguments)
        if not kwargs and self._fast_ix is not None and len(args) == len(self._names) and self._plain:
            self._learn_fast(args)
        return out

    def _fast_key(self, args):
        """The fast-call key of positional arguments that are all float64 arrays (the data argument by its
        row width and whether it is batched, not its row count), or None."""
        key = []
        for a in args:
            if type(a) is not np.ndarray or a.dtype is not _F64:
                return None
            key.append(a.shape)
        ix = self._fast_ix
        if ix >= 0:
            s = key[ix]
            if len(s) == 2:
                key[ix] = (True, s[1])
            elif len(s) == 1:
                key[ix] = (False, s[0])
            else:
                return None
        return tuple(key)

    def _call_fast(self, args):
        """Expectation values of a call whose key (:meth:`_fast_key`) a general call has compiled, or _MISS
        (then the general path runs, and raises what it raises)."""
        if len(args) != len(self._names) or self.shots is not None:
            return _MISS
        key = self._fast_key(args)
        call = None if key is None else self._fast.get(key)
        if call is None:
            return _MISS
        return call(args)

    def _learn_fast(self, args) -> None:
        """After a general call with positional float64 arrays: its fast call, when it computes expectation
        values only, exactly and from one data argument (or none)."""
        key = self._fast_key(args)
        if key is None or key in self._fast or self.shots is not None:
            return
        cq, _, x, batched = self._prepare_split(*self._split_bound(dict(zip(self._names, args))))
        weights = [i for i in range(len(args)) if i != self._fast_ix]
        # None for a key that has no fast call (other measurements than expectation values): learnt once.
        self._fast[key] = (_FastCall(cq, self._fast_ix, weights, batched)
                           if cq.expval_only and len(weights) == len(cq.weight_shapes) else None)

    def evaluate(self, arguments: Mapping, shots=None):
        """The values for arguments given by name (numbers, not autograd arrays); ``shots``: one shot count
        (None: the qnode's own, exact when it has none)."""
        cq, w, x, batched = self._prepare_split(*self._split_bound(arguments))
        if cq.expval_only:
            vals = cq.expval(w, x, shots)
            if not batched:
                vals = vals[0]
            return vals if cq.many else vals[..., 0]
        results = [r if batched else r[0] for r in cq.measure(w, x, shots)]
        return tuple(results) if cq.many else results[0]

    def vjp_by_name(self, arguments: Mapping, cotangent) -> dict:
        """``{name: cot . d(values)/d(argument)}`` for every weight and data argument of a call given by name,
        each of its argument's shape: one engine VJP call (what autograd's backward pass uses)."""
        data, weights, static = self._split_bound(arguments)
        cq, w, x, batched = self._prepare_split(data, weights, static)
        rows = 1 if x is None else x.shape[0]
        cot = np.asarray(cotangent, dtype=float)
        if cot.size != rows * cq.n_outputs:
            raise ValueError(f"cotangent must have the values' shape ({rows} row(s) x {cq.n_outputs} "
                             f"measurement(s)), got shape {cot.shape}")
        _, dw, dx = cq.vjp(w, x, cot.reshape(rows, cq.n_outputs))
        return _by_name(cq, weights, data, dw, dx)

    def value_and_grad_by_name(self, arguments: Mapping, shots=None):
        """``(value, {name: gradient})`` of a call with one value (one expectation value of one row), given by
        name: one engine call (with ``shots``, the shift rules on expectations estimated from that many shots;
        default: the qnode's own)."""
        data, weights, static = self._split_bound(arguments)
        cq, w, x, batched = self._prepare_split(data, weights, static)
        rows = 1 if x is None else x.shape[0]
        if rows * cq.n_outputs != 1:
            shape = ((rows,) if batched else ()) + ((cq.n_outputs,) if cq.many else ())
            raise ValueError(f"the objective must return one expectation value, got shape {shape}")
        vals, dw, dx = cq.jacobian(w, x, cq.shot_count(shots))  # (1, 1), (1, 1, n_weights), (1, 1, n_inputs)
        return float(np.asarray(vals).reshape(())), _by_name(cq, weights, data, dw[0, 0], dx[:, 0])

    def jacobian(self, *args, **kwargs):
        """``vals, d_weights, d_inputs``: (B, n_obs), (B, n_obs, *W.shape), (B, n_obs, d).

        Without a batch axis on inputs the leading B is dropped; with one returned measurement (not a list)
        the n_obs axis is dropped. With several weight arguments, d_weights is a tuple (one per argument).
        """
        if not kwargs and self._fast_jac and len(args) == len(self._names) and self.shots is None:
            key = self._fast_key(args)
            call = None if key is None else self._fast_jac.get(key)
            if call is not None:
                out = call(args)
                if out is not _MISS:
                    return out
        plain_call = not kwargs
        kwargs, shots, _ = self._call_shots(kwargs)
        cq, w, x, batched = self._prepare(args, kwargs)
        vals, dw, dx = cq.jacobian(w, x, cq.shot_count(shots))
        out = _shape_jacobian(cq, vals, dw, dx, batched, x is not None)
        if plain_call and self._fast_ix is not None and len(args) == len(self._names) and self._plain:
            self._learn_fast_jacobian(args, cq, batched)
        return out

    def _learn_fast_jacobian(self, args, cq: CompiledQNode, batched: bool) -> None:
        """After a general ``jacobian`` with positional float64 arrays: its fast call, when the qnode computes
        exact expectation values by the adjoint method from one data argument (or none) without derived
        input columns."""
        key = self._fast_key(args)
        if key is None or key in self._fast_jac or self.shots is not None:
            return
        weights = [i for i in range(len(args)) if i != self._fast_ix]
        ok = (cq.expval_only and self.diff_method == "adjoint" and cq.circuit.derived_inputs is None
              and len(weights) == len(cq.weight_shapes))
        self._fast_jac[key] = _FastJacobian(cq, self._fast_ix, weights, batched) if ok else None

    def vjp(self, *args, cotangent, **kwargs):
        """``vals, cot . d/dweights, cot . d/dinputs`` for a cotangent of the values' shape."""
        kwargs, shots, _ = self._call_shots(kwargs)
        cq, w, x, batched = self._prepare(args, kwargs)
        cot = np.asarray(cotangent, dtype=float)
        rows = 1 if x is None else x.shape[0]
        if cot.size != rows * cq.n_outputs:
            raise ValueError(f"cotangent must have the values' shape ({rows} row(s) x {cq.n_outputs} "
                             f"measurement(s)), got shape {cot.shape}")
        vals, dw, dx = cq.vjp(w, x, cot.reshape(rows, cq.n_outputs), cq.shot_count(shots))
        parts = cq.unpack(dw)
        if not batched:
            vals, dx = vals[0], dx[0]
        if not cq.many:
            vals = vals[..., 0]
        d_weights = parts[0] if len(parts) == 1 else tuple(parts)
        return vals, d_weights, (None if x is None else dx)

    def circuit(self, *args, **kwargs) -> Circuit:
        """The traced circuit for these arguments' shapes."""
        return self._prepare(args, kwargs)[0].circuit

    def compiled_for(self, *args, **kwargs) -> CompiledQNode:
        """The compiled call for these arguments' shapes."""
        return self._prepare(args, kwargs)[0]


def qnode(wires, method: str = "auto", precision: str = "complex128", diff_method: str = "adjoint", inputs=None,
          shots=None, seed=None, **options):
    """Decorator: trace ``func(weights, ..., data)`` into a :class:`QNode`.

    Parameters
    ----------
    wires : int, sequence or Device
        Number of wires (or the labels 0..n-1), or a :func:`pyqml.device` (its wires, method, shots and
        random generator; ``@pq.qnode(dev)`` as in PennyLane).
    method : {"auto", "statevector", "tensornet"}
        Any registered method (``pq.execution.available_methods()``); "auto" picks, per measurement, the
        cheapest method that can compute it.
    precision : {"complex128", "complex64"}
    diff_method : {"adjoint", "parameter-shift", "finite-diff"}
    inputs : str or sequence of str, optional
        The data arguments, e.g. ``inputs=("x",)``: each takes one row (a scalar or shape (d,)) or a batch
        (rows, d), and the rows run as one batched engine call; optimisers never train them unless asked
        (``argnum=``). Default: the argument named ``inputs`` if there is one; ``inputs=()`` for none.
    shots : int, list of int or None
        None (the default): exact. N: every expectation estimated from N shots per qubit-wise commuting set
        of Pauli words, probabilities as frequencies, gradients by the shift rules on sampled expectations
        (see :mod:`pyqml.frontend.shots`). A list (shot vector) returns one result per entry. A call may
        override it: ``circuit(w, shots=100)``.
    seed : int or None
        Seeds the qnode's random generator: the same seed reproduces every call's draws in order.
    **options
        Method options, e.g. ``optimize="cotengra"`` for the tensor-network path search; each method
        declares the options it takes (``pq.execution.method_options()``).
    """
    from .device import Device

    if isinstance(wires, Device):
        dev = wires
        if shots is None:
            shots = dev.shots
        seed = dev.rng if seed is None else seed
        wires = dev.n_wires
        method = dev.method if method == "auto" else method
        options = {**dev.options, **options}
    elif callable(wires) and not isinstance(wires, (int, np.integer)):
        raise TypeError("use @pq.qnode(wires=n), with parentheses")

    def deco(func: Callable) -> QNode:
        return QNode(func, wires, method=method, precision=precision, diff_method=diff_method, inputs=inputs,
                     shots=shots, seed=seed, **options)

    return deco
