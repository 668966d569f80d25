"""Automatic differentiation of Python functions built from qnode calls and numpy, through autograd.

A :class:`~pyqml.frontend.qnode.QNode` called with autograd arrays (what autograd passes while it traces a
function) is an autograd primitive: its values come from the engine and its vector-Jacobian product is the
engine's (one batched adjoint or reverse-mode call for every weight and data argument of the call). Around
it, autograd differentiates the user's Python: arithmetic, indexing, lists of qnode values, numpy functions.

    f(params) = mean((circuit(params, x_i) - y_i)^2)          params --+--> circuit(., x_1) --+
                                                                     +--> circuit(., x_2) --+--> mean(...)
    df/dparams = sum_i 2 (c_i - y_i)/n * dc_i/dparams                 ...    engine VJP per call

Plain numpy in the function works: while a function is traced here (``pq.grad``, ``pq.jacobian``, an
optimiser step), the functions of the ``numpy`` namespace (``np.mean``, ``np.array``, ``np.sin``,
``np.linalg.norm``, ...) are autograd's differentiable versions, which give the same results on plain arrays.
Names imported from numpy before the call (``from numpy import mean``) keep numpy's own function, which
cannot see autograd's arrays. ``pyqml.numpy`` is autograd's numpy with a ``requires_grad`` array.

Which arguments are trainable (:func:`trainable_argnums`), PennyLane-like and never by an argument's name:

1. ``argnum=`` (an int or a sequence of ints) when given;
2. otherwise, when any positional argument carries a ``requires_grad`` flag (``pq.numpy.array(x,
   requires_grad=False)``, a ``pennylane.numpy`` tensor), exactly those flagged ``requires_grad=True``;
3. otherwise (plain arrays) every positional argument holding real floating-point numbers, as PennyLane
   treats its own arrays (``requires_grad=True`` by default): integers, bools and strings are never trained,
   and keyword arguments pass through (``opt.step(cost, weights, bias, X=X, Y=Y)`` trains weights and bias);
4. for a qnode itself (``opt.step(circuit, p, x)``), its first positional argument that is not data
   (``inputs=``) or static: its remaining arguments are the data of the call, trained only when ``argnum``
   says so.
"""
from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Callable

import numpy as np

# autograd is imported on first use (differentiation), so ``import pyqml`` and plain qnode calls do not pay
# for it; a value can only be autograd's array once autograd is imported.


def isbox(value) -> bool:
    tracer = sys.modules.get("autograd.tracer")
    return tracer is not None and tracer.isbox(value)


def getval(value):
    tracer = sys.modules.get("autograd.tracer")
    return value if tracer is None else tracer.getval(value)

__all__ = ["grad", "jacobian", "trainable_argnums", "value_and_grad", "numpy_traced"]


# --- the qnode as an autograd primitive -------------------------------------------------------------------
def any_traced(values) -> bool:
    """Whether any value is an autograd array (a function is being differentiated)."""
    for v in values:
        if isbox(v):
            return True
        if isinstance(v, (list, tuple)) and any(isbox(u) for u in v):
            return True
    return False


def _evaluate(qnode, names: tuple, static: tuple, *values):
    return qnode.evaluate({**dict(static), **dict(zip(names, values))})


def _qnode_vjp(argnums, ans, args, kwargs):
    qnode, names, static, *values = args

    def vjp(g):
        if isbox(g):
            raise NotImplementedError(f"{qnode.__name__}: second derivatives of a qnode are not supported (its "
                                      "vector-Jacobian product is the engine's, computed on numbers)")
        grads = qnode.vjp_by_name({**dict(static), **dict(zip(names, values))}, g)
        out = []
        for i in argnums:
            name = names[i - 3]
            if name not in grads:
                raise TypeError(f"{qnode.__name__}: argument {name!r} is not differentiable (a static value)")
            out.append(grads[name])
        return tuple(out)

    return vjp


@functools.cache
def _qnode_primitive():
    """The qnode call as an autograd primitive whose VJP is the engine's."""
    from autograd.extend import defvjp_argnums, primitive

    prim = primitive(_evaluate)
    defvjp_argnums(prim, _qnode_vjp)
    return prim


def call_traced(qnode, arguments: Mapping):
    """A qnode call whose arguments include autograd arrays: the primitive, so autograd can differentiate it."""
    names, values, static = [], [], []
    for name, val in arguments.items():
        if isbox(val) or isinstance(val, (list, tuple)) and any(isbox(u) for u in val):
            if isinstance(val, (list, tuple)):
                import autograd.numpy as anp

                val = anp.array(list(val))
            names.append(name)
            values.append(val)
        else:
            static.append((name, val))
    return _qnode_primitive()(qnode, tuple(names), tuple(static), *values)


# --- plain numpy while tracing ----------------------------------------------------------------------------
_NOT_SWAPPED = {"test", "info", "show_config", "show_runtime", "printoptions", "set_printoptions",
                "get_printoptions", "seterr", "geterr", "seterrcall", "geterrcall", "setbufsize", "getbufsize",
                "save", "savez", "savez_compressed", "savetxt", "load", "loadtxt", "genfromtxt", "fromfile",
                "fromregex", "get_include"}
_swap_lock = threading.Lock()
_swap_depth = 0
_swap_saved: list = []


def _has_box(args, kwargs) -> bool:
    for a in args:
        if isbox(a):
            return True
        if isinstance(a, (list, tuple)) and any(isbox(u) or isinstance(u, (list, tuple)) and _has_box(u, {})
                                                for u in a):
            return True
    return any(isbox(v) for v in kwargs.values())


def _dispatching(original, traced):
    """numpy's ``original`` on numbers, autograd's ``traced`` when an argument is an autograd array (autograd's
    own implementations call numpy's functions on numbers, so they reach ``original``)."""

    @functools.wraps(original)
    def call(*args, **kwargs):
        if _has_box(args, kwargs):
            return traced(*args, **kwargs)
        return original(*args, **kwargs)

    return call


class _DispatchingUfunc:
    """A numpy ufunc whose call dispatches like :func:`_dispatching`; its methods (``reduce``, ``outer``, ...)
    and attributes are the ufunc's own, which numpy's internals use."""

    def __init__(self, ufunc, traced):
        self._ufunc, self._traced = ufunc, traced
        self.__name__ = ufunc.__name__
        self.__doc__ = ufunc.__doc__

    def __call__(self, *args, **kwargs):
        if _has_box(args, kwargs):
            return self._traced(*args, **kwargs)
        return self._ufunc(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def __repr__(self) -> str:
        return repr(self._ufunc)


@functools.cache
def _swaps() -> tuple:
    """(module, name, autograd's function) for numpy functions autograd wraps."""
    import inspect

    import autograd.numpy as anp
    import autograd.numpy.linalg as alinalg

    out = []
    for target, source in ((np, anp), (np.linalg, alinalg)):
        for name in dir(source):
            if name.startswith("_") or name in _NOT_SWAPPED:
                continue
            new, old = getattr(source, name), getattr(target, name, None)
            if old is None or new is old or not callable(old) or isinstance(old, type) or inspect.ismodule(old):
                continue
            out.append((target, name, _DispatchingUfunc(old, new) if isinstance(old, np.ufunc)
                        else _dispatching(old, new)))
    return tuple(out)


class numpy_traced:
    """Context manager: the ``numpy`` namespace's functions are autograd's while inside (re-entrant and
    shared by threads; numpy is restored when the last one leaves)."""

    def __enter__(self):
        global _swap_depth
        with _swap_lock:
            if _swap_depth == 0:
                _swap_saved[:] = [(mod, name, getattr(mod, name)) for mod, name, _ in _swaps()]
                for mod, name, new in _swaps():
                    setattr(mod, name, new)
            _swap_depth += 1
        return self

    def __exit__(self, *exc):
        global _swap_depth
        with _swap_lock:
            _swap_depth -= 1
            if _swap_depth == 0:
                for mod, name, old in _swap_saved:
                    setattr(mod, name, old)
                _swap_saved.clear()
        return False


# --- trainable arguments ----------------------------------------------------------------------------------
def _is_static_value(value) -> bool:
    from .qnode import _is_static

    return _is_static(value)


def _qnode_of(fn):
    from .qnode import QNode

    return fn if isinstance(fn, QNode) else None


def _position_names(q, args: Sequence, kwargs: Mapping | None) -> list[str]:
    """The qnode argument each positional argument binds to (its own order, or the legacy binding of
    positional arguments to the weight arguments when the data come by keyword)."""
    return q.arg_names if q.binds_positionally(args, kwargs) else q.weight_names


def trainable_argnums(fn: Callable, args: Sequence, argnum=None, kwargs: Mapping | None = None) -> list[int]:
    """The positions of ``args`` that are trained / differentiated (see the module docstring)."""
    n = len(args)
    if argnum is not None:
        nums = [argnum] if isinstance(argnum, (int, np.integer)) else list(argnum)
        out = []
        for a in nums:
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -n <= a < n:
                raise ValueError(f"argnum {a!r} is not the position of a positional argument (there are {n})")
            out.append(int(a) % n)
        if len(set(out)) != len(out):
            raise ValueError(f"argnum repeats a position: {nums}")
        return out
    flags = [getattr(a, "requires_grad", None) for a in args]
    if any(isinstance(f, (bool, np.bool_)) for f in flags):
        return [i for i, f in enumerate(flags) if f is True or f is np.True_]
    q = _qnode_of(fn)
    if q is not None:
        skip = set(q.data_names)
        names = _position_names(q, args, kwargs)
        for i, a in enumerate(args):
            if i < len(names) and (names[i] in skip or _is_static_value(a)):
                continue
            return [i]
        return []
    return [i for i, a in enumerate(args) if _is_float_value(a)]


def _is_float_value(value) -> bool:
    """Real floating-point numbers (a float, an array or a list of them): what the default trains."""
    if _is_static_value(value) or value is None:
        return False
    if isbox(value):
        return True
    try:
        return np.asarray(value).dtype.kind == "f"
    except (TypeError, ValueError):
        return False


def _as_float(value, what: str) -> np.ndarray:
    if isbox(value):
        raise NotImplementedError("pq.grad / pq.jacobian / an optimiser step inside a function being "
                                  "differentiated: second derivatives of qnodes are not supported")
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be real numbers to be differentiated, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=float)  # a plain float array (not a requires_grad subclass): what autograd boxes
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _traced(fn: Callable, args: Sequence, kwargs: Mapping, nums: Sequence[int]):
    """``(vjp, value)`` of ``fn`` with respect to the arguments at ``nums``."""
    args = list(args)

    def partial(train):
        full = list(args)
        for i, a in zip(nums, train):
            full[i] = a
        return fn(*full, **kwargs)

    from autograd.core import make_vjp

    start = tuple(_as_float(args[i], f"argument {i}") for i in nums)
    with numpy_traced():
        try:
            return make_vjp(partial, start)
        except TypeError as e:
            if "Box" not in str(e):
                raise
            raise TypeError(f"cannot differentiate this objective ({e}): it must compute with Python arithmetic "
                            "and numpy functions (np.<name>) on its arguments, not convert them to numbers "
                            "(float(x)); or pass grad_fn=(a function returning the gradients) or "
                            "grad_fn='finite-diff'") from e


def value_and_grad(fn: Callable, args: Sequence, kwargs: Mapping | None = None, nums: Sequence[int] = (0,)):
    """``(value, [gradient per argument in nums])`` of a scalar-valued ``fn(*args, **kwargs)``."""
    vjp, value = _traced(fn, args, kwargs or {}, list(nums))
    if np.size(value) != 1:
        raise ValueError(f"the objective must return one expectation value (a scalar), got shape "
                         f"{np.shape(value)}")
    grads = vjp(np.ones_like(np.asarray(value, dtype=float)))
    return float(np.asarray(value).reshape(())), [np.asarray(g, dtype=float) for g in grads]


def _objective(fn: Callable, args: Sequence, kwargs: Mapping) -> tuple[Callable, Sequence]:
    """A qnode's legacy call ``opt.step(qnode, W, inputs=X)`` (positional arguments bound to its weight
    arguments in order, data by keyword) as a plain call."""
    q = _qnode_of(fn)
    if q is None or q.binds_positionally(args, kwargs):
        return fn, args

    def call(*a, **k):
        return q(**q.bind_call(a, k))

    return call, args


class _Transform:
    def __init__(self, fn: Callable, argnum, kind: str):
        self.fn, self.argnum, self.kind = fn, argnum, kind
        self.forward = None
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        nums = trainable_argnums(self.fn, args, self.argnum, kwargs)
        if not nums:
            raise TypeError(f"{getattr(self.fn, '__name__', 'the function')}: no trainable argument (plain arrays: "
                            "the first argument by default; pass argnum= or arrays with requires_grad=True)")
        fn, args = _objective(self.fn, args, kwargs)
        if self.kind == "grad":
            value, grads = value_and_grad(fn, args, kwargs, nums)
            self.forward = value
        else:
            grads = _jacobians(fn, args, kwargs, nums)
        single = self.argnum is None and len(nums) == 1 or isinstance(self.argnum, (int, np.integer))
        return grads[0] if single else tuple(grads)


def _jacobians(fn, args, kwargs, nums):
    vjp, value = _traced(fn, args, kwargs, nums)
    value = np.asarray(value, dtype=float)
    shapes = [np.shape(args[i]) for i in nums]
    jac = [np.zeros(value.shape + s) for s in shapes]
    for k in range(value.size):
        e = np.zeros(value.size)
        e[k] = 1.0
        rows = vjp(e.reshape(value.shape))
        idx = np.unravel_index(k, value.shape)
        for j, r in zip(jac, rows):
            j[idx] = r
    return jac


def grad(fn: Callable, argnum=None) -> Callable:
    """The gradient of a scalar-valued function, as PennyLane's ``qml.grad``: ``pq.grad(cost)(params, x)``
    returns d cost / d params (a tuple when several arguments are trainable; see the module docstring for
    which are). The value of the last call is ``.forward``."""
    return _Transform(fn, argnum, "grad")


def jacobian(*args, argnum=None, **kwargs):
    """Two uses, told apart by the first argument:

    * ``pq.jacobian(fn, argnum=None)``: the Jacobian transform of PennyLane's ``qml.jacobian``:
      ``pq.jacobian(f)(params)`` has shape ``f(params).shape + params.shape`` (a tuple for several
      trainable arguments);
    * ``pq.jacobian(circuit, observables, weights=..., inputs=..., method=...)``: values and exact gradients
      of observables on a :class:`pyqml.Circuit` (``vals, d_weights, d_inputs``).
    """
    from .circuit import Circuit
    from .measurements import jacobian as circuit_jacobian

    if args and isinstance(args[0], Circuit):
        if argnum is not None:
            raise TypeError("argnum= is for pq.jacobian(function); pq.jacobian(circuit, observables, ...) "
                            "differentiates with respect to every weight and input")
        return circuit_jacobian(*args, **kwargs)
    if len(args) != 1 or kwargs or not callable(args[0]):
        raise TypeError("use pq.jacobian(function, argnum=...) or pq.jacobian(circuit, observables, ...)")
    return _Transform(args[0], argnum, "jacobian")
