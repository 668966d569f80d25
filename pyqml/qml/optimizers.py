"""Optimisers with PennyLane's step semantics and hyper-parameter names.

``opt.step(objective_fn, *args, grad_fn=None, argnum=None, **kwargs)`` returns the arguments with the
trainable ones updated (one array when there is one argument, else a tuple of every positional argument, as
PennyLane does); ``opt.step_and_cost(...)`` also returns the objective at the arguments *before* the step.
Keyword arguments are passed through untouched.

Which positional arguments are trainable (``pyqml/frontend/autodiff.py``; never decided by a name):
``argnum=`` when given; else those flagged ``requires_grad=True`` when any argument carries the flag
(``pq.numpy.array(x, requires_grad=False)``, ``pennylane.numpy`` tensors); else, with ``grad_fn``, every
positional argument (one gradient each); else, for a qnode objective, its first positional argument that is
not data (``inputs=``) or static (Python ints, bools, strings), so ``opt.step(circuit, p, x)`` trains ``p``
and returns ``(p_new, x)``; else every positional argument of floating-point numbers, as PennyLane trains
its arrays (pass data by keyword, ``argnum=``, or ``requires_grad=False``).

Gradients come from, in order:

- ``grad_fn(*args, **kwargs)`` when given (a tuple with one gradient per trainable argument, or one array);
  ``grad_fn="finite-diff"`` asks for central differences;
- a :class:`pyqml.QNode` objective returning one expectation value: values and gradients in one engine call
  (its ``diff_method``);
- any object with ``value_and_grad(*args, **kwargs) -> (value, grads)`` (the hybrid models' losses);
- any other Python function built from qnode calls, arithmetic and numpy: autograd, with each qnode call's
  vector-Jacobian product from the engine (exact).
"""
from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np

from .. import _core
from ..frontend import autodiff
from ..frontend.qnode import QNode
from .metric_tensor import metric_tensor

__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "NesterovMomentumOptimizer",
    "QNGOptimizer",
    "RMSPropOptimizer",
    "RotosolveOptimizer",
    "SPSAOptimizer",
    "ScipyOptimizer",
    "metric_tensor",
]


def _positive(name: str, value, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'} and finite, got {value!r}")
    return v


def _unit_interval(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def _as_arrays(args) -> list[np.ndarray]:
    if not args:
        raise TypeError("the optimiser needs at least one trainable argument")
    out = []
    for a in args:
        arr = np.array(a, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ValueError("trainable arguments contain NaN or infinite values")
        out.append(arr)
    return out


class _FlatState:
    """An optimiser's per-parameter accumulators held as views into one flat vector, for the in-place step
    on flat parameters (:meth:`GradientDescentOptimizer.update_flat`, one engine call: ``_core.adam_step``
    and the others, cpp/src/training/steps.cpp).

    ``lists`` are the public per-parameter lists (``accumulation`` or its ``"fm"`` / ``"sm"`` entries) whose
    items are views of ``flats``; when any item was replaced since (``apply_grad`` on split arrays, a user
    assignment, ``reset()``), the flat vectors are rebuilt from the lists' current values.
    """

    __slots__ = ("shapes", "lists", "views", "flats", "tmp")

    def __init__(self, shapes: tuple, sources: list, n: int):
        self.shapes = shapes
        self.flats, self.lists, self.views = [], [], []
        for src in sources:
            flat = np.zeros(n)
            if src is not None:
                if len(src) != len(shapes) or any(np.shape(a) != s for a, s in zip(src, shapes)):
                    raise ValueError(f"the optimiser's accumulated state has shapes {[np.shape(a) for a in src]}, "
                                     f"the parameters {list(shapes)}: call reset() before stepping other "
                                     "parameters")
                if n:
                    np.concatenate([np.asarray(a, dtype=float).reshape(-1) for a in src], out=flat)
            views, off = [], 0
            for s in shapes:
                size = math.prod(s)
                views.append(flat[off:off + size].reshape(s))
                off += size
            self.flats.append(flat)
            self.lists.append(list(views))
            self.views.append(tuple(views))
        self.tmp = np.empty(n)

    def current(self, lists: list, shapes: tuple) -> bool:
        """True when ``lists`` are still this state's lists of its own views (nothing replaced)."""
        if shapes != self.shapes:
            return False
        for have, mine, views, flat in zip(lists, self.lists, self.views, self.flats):
            if have is not mine or len(have) != len(views) or not all(map(operator.is_, have, views)):
                return False
            if views and views[0].base is not flat:  # a copy (copy.deepcopy, pickle) keeps no views
                return False
        return True


_F64 = np.dtype(np.float64)


def _check_flat(x, grad) -> int:
    flags = getattr(x, "flags", None)
    if type(x) is not np.ndarray or x.dtype != _F64 or x.ndim != 1 or not flags.c_contiguous or not flags.writeable:
        raise TypeError("update_flat needs the parameters as one writeable, contiguous float64 vector")
    if type(grad) is not np.ndarray or grad.dtype != _F64 or grad.shape != x.shape:
        raise ValueError(f"update_flat: the gradient must be a float64 vector of shape {x.shape}, got "
                         f"{getattr(grad, 'dtype', type(grad).__name__)} {np.shape(grad)}")
    return x.shape[0]


class _First:
    """Whether a flat stepper's first step (the one that made the optimiser's state) was taken."""

    __slots__ = ("done",)

    def __init__(self):
        self.done = False


def _state_guard(opt, lists: list, st: _FlatState) -> list:
    """The identities (``_core.identities_hold``) that hold while ``opt``'s accumulated state is the flat
    state ``st`` (its per-parameter ``lists``, each holding its own views): ``accumulation`` first."""
    guard = [(opt, "accumulation", lists[0]), (opt, "_flat", st)]
    guard += [(lst, None, views) for lst, views in zip(lists, st.views)]
    return guard


def _split_flat(flat: np.ndarray, shapes: tuple) -> list:
    out, off = [], 0
    for s in shapes:
        size = math.prod(s)
        out.append(flat[off:off + size].reshape(s))
        off += size
    return out


def _flat_shapes(shapes, n: int) -> tuple:
    shapes = tuple(tuple(int(d) for d in s) for s in shapes)
    if sum(math.prod(s) for s in shapes) != n:
        raise ValueError(f"update_flat: parameter shapes {list(shapes)} do not cover the {n} entries of the vector")
    return shapes


def _finite_diff(objective_fn, args, kwargs, h: float = 1e-6, nums=None):
    nums = range(len(args)) if nums is None else nums
    grads = []
    for k in nums:
        a = args[k]
        g = np.zeros_like(a)
        flat = g.reshape(-1)
        for i in range(a.size):
            p, m = list(args), list(args)
            p[k], m[k] = a.copy(), a.copy()
            p[k].reshape(-1)[i] += h
            m[k].reshape(-1)[i] -= h
            flat[i] = (float(objective_fn(*p, **kwargs)) - float(objective_fn(*m, **kwargs))) / (2 * h)
        grads.append(g)
    return grads


def _qnode_kwargs(qnode: QNode, args, kwargs) -> dict:
    """Every argument of the qnode by name for an optimiser's call (``pq.QNode.bind_call``)."""
    return qnode.bind_call(args, kwargs)


def _qnode_value_and_grad(qnode: QNode, args, kwargs, nums):
    """One engine call: the qnode's value and its gradient with respect to the arguments at ``nums``."""
    shots = None
    if "shots" in kwargs and "shots" not in qnode.arg_names:  # a step's own shots (``opt.step(c, w, shots=50)``)
        kwargs = dict(kwargs)
        shots = kwargs.pop("shots")
    arguments = qnode.bind_call(args, kwargs)
    names = qnode.arg_names if qnode.binds_positionally(args, kwargs) else qnode.weight_names
    value, grads = qnode.value_and_grad_by_name(arguments, shots=shots)
    if np.size(value) != 1:
        raise ValueError(f"the objective must return one expectation value, got shape {np.shape(value)}")
    out = []
    for i in nums:
        if names[i] not in grads:
            raise TypeError(f"argument {names[i]!r} of {qnode.__name__} is static (a Python int, bool or str): "
                            "it cannot be trained")
        out.append(np.asarray(grads[names[i]], dtype=float).reshape(np.shape(args[i])))
    return float(np.asarray(value).reshape(())), out


def value_and_grad(objective_fn: Callable, args, kwargs, grad_fn=None, nums=None):
    """``(value or None, [grad per trainable arg])`` for the objective at ``args`` (see the module
    docstring); ``nums`` are the trainable positions (default: every argument)."""
    nums = list(range(len(args))) if nums is None else list(nums)
    if grad_fn is not None:
        if isinstance(grad_fn, str):
            if grad_fn != "finite-diff":
                raise ValueError(f"grad_fn must be a callable or 'finite-diff', got {grad_fn!r}")
            return None, _finite_diff(objective_fn, args, kwargs, nums=nums)
        g = grad_fn(*args, **kwargs)
        grads = list(g) if isinstance(g, (tuple, list)) else [g]
        return None, [np.asarray(x, dtype=float) for x in grads]
    if isinstance(objective_fn, QNode):
        return _qnode_value_and_grad(objective_fn, args, kwargs, nums)
    vg = getattr(objective_fn, "value_and_grad", None)
    if vg is not None:
        v, g = vg(*args, **kwargs)
        grads = list(g) if isinstance(g, (tuple, list)) else [g]
        return float(v), [np.asarray(x, dtype=float) for x in grads]
    if not callable(objective_fn):
        raise TypeError(f"the objective must be callable, got {type(objective_fn).__name__}")
    return autodiff.value_and_grad(objective_fn, args, kwargs, nums)


def _ret(new_args):
    return new_args[0] if len(new_args) == 1 else tuple(new_args)


def _like(original, new: np.ndarray):
    """``new`` as the type of ``original`` when that is an array with a ``requires_grad`` flag."""
    flag = getattr(original, "requires_grad", None)
    if isinstance(flag, (bool, np.bool_)) and isinstance(original, np.ndarray):
        try:
            return type(original)(new, requires_grad=bool(flag))
        except TypeError:
            return new
    return new


def _trainable(objective_fn, args, kwargs, grad_fn, argnum) -> list[int]:
    if not args:
        raise TypeError("the optimiser needs at least one trainable argument")
    flagged = any(isinstance(getattr(a, "requires_grad", None), (bool, np.bool_)) for a in args)
    if grad_fn is not None and argnum is None and not flagged:
        return list(range(len(args)))  # grad_fn returns one gradient per positional argument
    nums = autodiff.trainable_argnums(objective_fn, args, argnum, kwargs)
    if not nums:
        raise TypeError("no trainable argument: pass argnum= or arrays with requires_grad=True "
                        "(static values such as Python ints and a qnode's data arguments are not trained)")
    return nums


class GradientDescentOptimizer:
    """``x <- x - stepsize * grad``."""

    def __init__(self, stepsize: float = 0.01):
        self.stepsize = _positive("stepsize", stepsize)
        self._flat = None

    def compute_grad(self, objective_fn, args, kwargs, grad_fn=None, argnums=None):
        """``(grads, forward)``: gradients with respect to the arguments at ``argnums`` (default: all) and the
        objective at ``args`` (None when not computed)."""
        nums = list(range(len(args))) if argnums is None else list(argnums)
        forward, grads = value_and_grad(objective_fn, args, kwargs, grad_fn, nums)
        if len(grads) != len(nums):
            raise ValueError(f"grad_fn returned {len(grads)} gradients for {len(nums)} trainable arguments")
        for g, i in zip(grads, nums):
            if g.shape != np.shape(args[i]):
                raise ValueError(f"a gradient has shape {g.shape} but its argument has shape {np.shape(args[i])}")
        return grads, forward

    def apply_grad(self, grad, args) -> list[np.ndarray]:
        return [a - self.stepsize * g for a, g in zip(args, grad)]

    def update_flat(self, x: np.ndarray, grad: np.ndarray, shapes=None) -> None:
        """One step on flat parameters, in place: ``x`` is one writeable contiguous float64 vector (the
        parameters of ``shapes``, each in C order, one after the other; default one parameter of shape
        ``x.shape``) and ``grad`` its gradient (same shape).

        One pass in the engine (cpp/src/training/steps.cpp) with :meth:`apply_grad`'s arithmetic on the split
        arrays, operation for operation and rounded after each, so the result is the same to the last bit.
        The accumulated state (``accumulation``, Adam's ``fm``, ``sm``, ``t``) stays the per-parameter lists of
        :meth:`apply_grad`, whose arrays are views into one flat vector; calls of :meth:`apply_grad` and
        :meth:`update_flat` can be mixed. A subclass that overrides :meth:`apply_grad` is stepped through its
        own :meth:`apply_grad` on the split arrays.
        """
        n = _check_flat(x, grad)
        shapes = self._checked_shapes(shapes, n)
        if _native_flat(type(self)):
            self._update_flat(x, grad, shapes)
            return
        xs = _split_flat(x, shapes)
        new = self.apply_grad(_split_flat(grad, shapes), [a.copy() for a in xs])
        for a, v in zip(xs, new):
            a[...] = v

    def _update_flat(self, x, grad, shapes) -> None:
        """:meth:`update_flat` on arguments already checked (the hybrid models' training step)."""
        _core.sgd_step(x, grad, self.stepsize)

    def flat_stepper(self, x: np.ndarray, grad: np.ndarray, shapes=None):
        """``(step, guard, look_ahead)`` for a training loop that steps the same flat vectors many times (the
        arguments of :meth:`update_flat`, checked here once).

        ``step()`` is one :meth:`update_flat` on them: for the built-in optimisers the same engine pass
        without the per-step checks (the hyper-parameters are read at each step; the first step of an
        optimiser without state makes it). ``guard`` lists ``(object, name, expected)`` identities
        (``pyqml._core.identities_hold``) that hold while ``step`` updates the optimiser's current state:
        they fail after ``reset()``, :meth:`apply_grad` on split arrays, a replaced entry of the state, or
        the first step of an optimiser that had none; then ask for a new stepper. ``look_ahead()``
        (momentum optimisers, else None) is :meth:`look_ahead_flat` on ``x``: False (x untouched) before
        the first step. A subclass that overrides :meth:`apply_grad` steps through :meth:`update_flat`.
        """
        n = _check_flat(x, grad)
        shapes = self._checked_shapes(shapes, n)
        if not _native_flat(type(self)):
            def step():
                self.update_flat(x, grad, shapes)

            look = (lambda: self.look_ahead_flat(x, shapes)) if isinstance(self, MomentumOptimizer) else None
            return step, [], look
        return self._flat_stepper(x, grad, shapes)

    def _flat_stepper(self, x, grad, shapes):
        made = self._fast_stepper(x, grad, shapes)
        if made is not None:
            return made
        # No state yet: the first step makes it (the general flat step), later ones take the fast stepper
        # on it; the guard fails from the first step on.
        fast, first = None, _First()

        def step():
            nonlocal fast
            if fast is None:
                self._update_flat(x, grad, shapes)
                first.done = True
                fast = self._fast_stepper(x, grad, shapes)[0]
            else:
                fast()

        look = (lambda: self._look_ahead_flat(x, shapes)) if isinstance(self, MomentumOptimizer) else None
        return step, [(first, "done", False)], look

    def _fast_stepper(self, x, grad, shapes):
        """:meth:`flat_stepper` on the optimiser's current state; None while it has none."""
        sgd = _core.sgd_step

        def step():
            sgd(x, grad, self.stepsize)

        return step, [], None

    def fused_rule(self, x, grad, shapes):
        """``(rule, state vectors, wrap)`` for the hybrid models' fused training step
        (``_core.HybridTrainingStep``, cpp/src/training/hybrid_step.cpp) on the optimiser's current state,
        asked right after :meth:`flat_stepper` on the same vectors (whose guard then covers it); None while
        the optimiser has no state (its first step makes it) and for a subclass stepped through its own
        :meth:`apply_grad`. ``wrap(call)`` is the step ``run(X, y)``: ``call(X, y, *scalars)`` with the
        scalars of the flat step's kernel, read from the hyper-parameters at each step as the flat step reads
        them, then the state's count (Adam's ``t``) once the call returned."""
        if not _native_flat(type(self)):
            return None
        return self._fused(x, grad, shapes)

    def _fused(self, x, grad, shapes):
        def wrap(call):
            def run(X, y):
                return call(X, y, self.stepsize)

            return run

        return "sgd", [], wrap

    def _checked_shapes(self, shapes, n: int) -> tuple:
        if shapes is None:
            return ((n,),)
        last = getattr(self, "_shapes", None)  # the shapes tuple of the previous step, already checked
        if last is not None and shapes is last[0] and last[1] == n:
            return last[2]
        out = _flat_shapes(shapes, n)
        if isinstance(shapes, tuple):
            self._shapes = (shapes, n, out)
        return out

    def _flat_state(self, lists: list, shapes: tuple, n: int) -> _FlatState:
        st = getattr(self, "_flat", None)
        if st is None or not st.current(lists, shapes):
            st = self._flat = _FlatState(shapes, lists, n)
        return st

    def _update(self, objective_fn, args, kwargs, grad_fn, argnum, forward_needed: bool = True):
        """``(every argument with the trainable ones updated, the objective at args)``; the objective is
        evaluated only when the gradient did not give it and ``forward_needed``."""
        nums = _trainable(objective_fn, args, kwargs, grad_fn, argnum)
        full = list(args)
        for i, a in zip(nums, _as_arrays([args[i] for i in nums])):
            full[i] = a
        grads, forward = self.compute_grad(objective_fn, full, kwargs, grad_fn, nums)
        new = self.apply_grad(grads, [full[i] for i in nums])
        out = list(args)
        for i, v in zip(nums, new):
            out[i] = _like(args[i], v)
        if forward is None and forward_needed:
            forward = float(np.asarray(objective_fn(*full, **kwargs)).reshape(()))
        return out, forward

    def step_and_cost(self, objective_fn, *args, grad_fn=None, argnum=None, **kwargs):
        """One step; returns ``(new_args, objective at the old args)``."""
        out, forward = self._update(objective_fn, args, kwargs, grad_fn, argnum)
        return _ret(out), forward

    def step(self, objective_fn, *args, grad_fn=None, argnum=None, **kwargs):
        """One step; returns the arguments with the trainable ones updated (one array when there is one)."""
        return _ret(self._update(objective_fn, args, kwargs, grad_fn, argnum, forward_needed=False)[0])


class MomentumOptimizer(GradientDescentOptimizer):
    """``a <- momentum * a + stepsize * grad``; ``x <- x - a``."""

    def __init__(self, stepsize: float = 0.01, momentum: float = 0.9):
        super().__init__(stepsize)
        self.momentum = _unit_interval("momentum", momentum)
        self.accumulation = None

    def apply_grad(self, grad, args):
        if self.accumulation is None:
            self.accumulation = [np.zeros_like(a) for a in args]
        out = []
        for i, (a, g) in enumerate(zip(args, grad)):
            self.accumulation[i] = self.momentum * self.accumulation[i] + self.stepsize * g
            out.append(a - self.accumulation[i])
        return out

    def _update_flat(self, x, grad, shapes) -> None:
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        self.accumulation = st.lists[0]
        _core.momentum_step(x, grad, st.flats[0], self.momentum, self.stepsize)

    def look_ahead_flat(self, x: np.ndarray, shapes=None) -> bool:
        """Nesterov's look-ahead on flat parameters, in place: ``x <- x - momentum * a`` with the accumulation
        ``a`` as :meth:`update_flat` keeps it; False (x untouched) before the first step."""
        n = _check_flat(x, x)
        return self._look_ahead_flat(x, self._checked_shapes(shapes, n))

    def _fast_stepper(self, x, grad, shapes):
        if self.accumulation is None:
            return None
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        acc = self.accumulation = st.lists[0]
        a, tmp = st.flats[0], st.tmp
        kernel, multiply, subtract = _core.momentum_step, np.multiply, np.subtract

        def step():
            kernel(x, grad, a, self.momentum, self.stepsize)

        def look_ahead():
            multiply(a, self.momentum, out=tmp)
            subtract(x, tmp, out=x)
            return True

        return step, _state_guard(self, [acc], st), look_ahead

    def _fused(self, x, grad, shapes):
        if self.accumulation is None:
            return None
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        self.accumulation = st.lists[0]

        def wrap(call):
            def run(X, y):
                return call(X, y, self.momentum, self.stepsize)

            return run

        return "momentum", [st.flats[0]], wrap

    def _look_ahead_flat(self, x, shapes) -> bool:
        if self.accumulation is None:
            return False
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        self.accumulation = st.lists[0]
        np.multiply(st.flats[0], self.momentum, out=st.tmp)
        np.subtract(x, st.tmp, out=x)
        return True

    def reset(self) -> None:
        self.accumulation = None


class NesterovMomentumOptimizer(MomentumOptimizer):
    """Momentum with the gradient taken at the look-ahead point ``x - momentum * a``."""

    def compute_grad(self, objective_fn, args, kwargs, grad_fn=None, argnums=None):
        if self.accumulation is None:
            return super().compute_grad(objective_fn, args, kwargs, grad_fn, argnums)
        nums = list(range(len(args))) if argnums is None else list(argnums)
        shifted = list(args)
        for i, acc in zip(nums, self.accumulation):
            shifted[i] = args[i] - self.momentum * acc
        grads, _ = super().compute_grad(objective_fn, shifted, kwargs, grad_fn, nums)
        return grads, None  # the forward value at the shifted point is not the cost at args


class AdagradOptimizer(GradientDescentOptimizer):
    """``acc <- acc + grad^2``; ``x <- x - stepsize * grad / sqrt(acc + eps)``."""

    def __init__(self, stepsize: float = 0.01, eps: float = 1e-8):
        super().__init__(stepsize)
        self.eps = _positive("eps", eps)
        self.accumulation = None

    def apply_grad(self, grad, args):
        if self.accumulation is None:
            self.accumulation = [np.zeros_like(a) for a in args]
        out = []
        for i, (a, g) in enumerate(zip(args, grad)):
            self.accumulation[i] = self.accumulation[i] + g * g
            out.append(a - self.stepsize / np.sqrt(self.accumulation[i] + self.eps) * g)
        return out

    def _decays(self) -> tuple[float, float]:
        """The flat kernel's (decay, 1 - decay): decay < 0 is Adagrad's sum, a <- a + g^2."""
        return -1.0, 0.0

    def _update_flat(self, x, grad, shapes) -> None:
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        self.accumulation = st.lists[0]
        _core.scaled_step(x, grad, st.flats[0], *self._decays(), self.stepsize, self.eps)

    def _fast_stepper(self, x, grad, shapes):
        if self.accumulation is None:
            return None
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        acc = self.accumulation = st.lists[0]
        a, kernel = st.flats[0], _core.scaled_step

        def step():
            kernel(x, grad, a, *self._decays(), self.stepsize, self.eps)

        return step, _state_guard(self, [acc], st), None

    def _fused(self, x, grad, shapes):
        if self.accumulation is None:
            return None
        st = self._flat_state([self.accumulation], shapes, x.shape[0])
        self.accumulation = st.lists[0]

        def wrap(call):
            def run(X, y):
                return call(X, y, *self._decays(), self.stepsize, self.eps)

            return run

        return "scaled", [st.flats[0]], wrap

    def reset(self) -> None:
        self.accumulation = None


class RMSPropOptimizer(AdagradOptimizer):
    """``acc <- decay * acc + (1 - decay) * grad^2``; ``x <- x - stepsize * grad / sqrt(acc + eps)``."""

    def __init__(self, stepsize: float = 0.01, decay: float = 0.9, eps: float = 1e-8):
        super().__init__(stepsize, eps)
        self.decay = _unit_interval("decay", decay)

    def apply_grad(self, grad, args):
        if self.accumulation is None:
            self.accumulation = [np.zeros_like(a) for a in args]
        out = []
        for i, (a, g) in enumerate(zip(args, grad)):
            self.accumulation[i] = self.decay * self.accumulation[i] + (1 - self.decay) * g * g
            out.append(a - self.stepsize / np.sqrt(self.accumulation[i] + self.eps) * g)
        return out

    def _decays(self) -> tuple[float, float]:
        return self.decay, 1 - self.decay


class AdamOptimizer(GradientDescentOptimizer):
    """Adam (Kingma & Ba 2015) as PennyLane writes it: the bias correction folded into the step size,
    ``x <- x - stepsize * sqrt(1 - beta2^t) / (1 - beta1^t) * fm / (sqrt(sm) + eps)``."""

    def __init__(self, stepsize: float = 0.01, beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-8):
        super().__init__(stepsize)
        self.beta1 = _unit_interval("beta1", beta1)
        self.beta2 = _unit_interval("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.accumulation = None

    def apply_grad(self, grad, args):
        if self.accumulation is None:
            self.accumulation = {"fm": [np.zeros_like(a) for a in args], "sm": [np.zeros_like(a) for a in args],
                                 "t": 0}
        acc = self.accumulation
        acc["t"] += 1
        t = acc["t"]
        step = self.stepsize * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        out = []
        for i, (a, g) in enumerate(zip(args, grad)):
            acc["fm"][i] = self.beta1 * acc["fm"][i] + (1 - self.beta1) * g
            acc["sm"][i] = self.beta2 * acc["sm"][i] + (1 - self.beta2) * g * g
            out.append(a - step * acc["fm"][i] / (np.sqrt(acc["sm"][i]) + self.eps))
        return out

    def _update_flat(self, x, grad, shapes) -> None:
        acc = self.accumulation
        if acc is None:
            st = self._flat_state([None, None], shapes, x.shape[0])
            acc = self.accumulation = {"fm": st.lists[0], "sm": st.lists[1], "t": 0}
        else:
            st = self._flat_state([acc["fm"], acc["sm"]], shapes, x.shape[0])
            acc["fm"], acc["sm"] = st.lists
        acc["t"] += 1
        t = acc["t"]
        step = self.stepsize * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        b1, b2 = self.beta1, self.beta2
        _core.adam_step(x, grad, st.flats[0], st.flats[1], b1, 1 - b1, b2, 1 - b2, step, self.eps)

    def _fast_stepper(self, x, grad, shapes):
        acc = self.accumulation
        if acc is None:
            return None
        st = self._flat_state([acc["fm"], acc["sm"]], shapes, x.shape[0])
        acc["fm"], acc["sm"] = st.lists
        lfm, lsm = st.lists
        fm, sm = st.flats
        kernel, sqrt = _core.adam_step, math.sqrt

        def step():
            t = acc["t"] + 1
            acc["t"] = t
            b1, b2 = self.beta1, self.beta2
            kernel(x, grad, fm, sm, b1, 1 - b1, b2, 1 - b2, self.stepsize * sqrt(1 - b2 ** t) / (1 - b1 ** t),
                   self.eps)

        guard = [(self, "accumulation", acc), (acc, "fm", lfm), (acc, "sm", lsm)]
        return step, guard + _state_guard(self, [lfm, lsm], st)[1:], None

    def _fused(self, x, grad, shapes):
        acc = self.accumulation
        if acc is None:
            return None
        st = self._flat_state([acc["fm"], acc["sm"]], shapes, x.shape[0])
        acc["fm"], acc["sm"] = st.lists
        sqrt = math.sqrt

        def wrap(call):
            def run(X, y):
                t = acc["t"] + 1
                b1, b2 = self.beta1, self.beta2
                value = call(X, y, b1, 1 - b1, b2, 1 - b2, self.stepsize * sqrt(1 - b2 ** t) / (1 - b1 ** t),
                             self.eps)
                acc["t"] = t  # counted once the step was taken (a refused step leaves the state as it was)
                return value

            return run

        return "adam", list(st.flats), wrap

    def reset(self) -> None:
        self.accumulation = None

    @property
    def fm(self):
        return None if self.accumulation is None else self.accumulation["fm"]

    @property
    def sm(self):
        return None if self.accumulation is None else self.accumulation["sm"]

    @property
    def t(self):
        return None if self.accumulation is None else self.accumulation["t"]


# (apply_grad, _update_flat) pairs whose in-place step is apply_grad's arithmetic (update_flat's fast path)
_NATIVE_FLAT = frozenset((cls.apply_grad, cls._update_flat) for cls in (
    GradientDescentOptimizer, MomentumOptimizer, AdagradOptimizer, RMSPropOptimizer, AdamOptimizer))
_NATIVE_CLASSES: dict = {}


def _native_flat(cls) -> bool:
    """True when ``cls`` steps flat vectors with its own arithmetic: its apply_grad and _update_flat come
    from the same built-in optimiser (a subclass overriding apply_grad is stepped through it)."""
    hit = _NATIVE_CLASSES.get(cls)
    if hit is None:
        hit = _NATIVE_CLASSES[cls] = (cls.apply_grad, cls._update_flat) in _NATIVE_FLAT
    return hit


class SPSAOptimizer(GradientDescentOptimizer):
    """Simultaneous perturbation stochastic approximation (Spall 1998), PennyLane's schedule:
    ``c_k = c / k^gamma``, ``a_k = a / (A + k)^alpha``, ``A = 0.1 maxiter`` and ``a = 0.05 (A + 1)^alpha``
    by default; two objective evaluations per step whatever the number of parameters.

    ``seed`` (pyqml addition) makes the +-1 perturbations reproducible; ``None`` draws fresh ones.
    """

    def __init__(self, maxiter: int | None = None, alpha: float = 0.602, gamma: float = 0.101, c: float = 0.2,
                 A: float | None = None, a: float | None = None, seed: int | None = None):
        if not maxiter and not A:
            raise TypeError("SPSAOptimizer: one of maxiter or A must be provided")
        self.A = _positive("A", A) if A else 0.1 * _positive("maxiter", maxiter)
        self.alpha = _positive("alpha", alpha)
        self.gamma = _positive("gamma", gamma)
        self.c = _positive("c", c)
        self.a = _positive("a", a) if a else 0.05 * (self.A + 1) ** self.alpha
        self.stepsize = self.a
        self.k = 1
        self.ak = self.a / (self.A + 1) ** self.alpha
        self.rng = np.random.default_rng(seed)

    def compute_grad(self, objective_fn, args, kwargs, grad_fn=None, argnums=None):
        nums = list(range(len(args))) if argnums is None else list(argnums)
        ck = self.c / self.k ** self.gamma
        deltas = [self.rng.choice([-1.0, 1.0], size=np.shape(args[i])) for i in nums]
        plus, minus = list(args), list(args)
        for i, d in zip(nums, deltas):
            plus[i], minus[i] = args[i] + ck * d, args[i] - ck * d
        yp, ym = np.asarray(objective_fn(*plus, **kwargs)), np.asarray(objective_fn(*minus, **kwargs))
        if yp.size != 1:
            raise ValueError("The objective function must be a scalar function for the gradient to be computed.")
        diff = float(yp.reshape(())) - float(ym.reshape(()))
        return [diff / (2 * ck * d) for d in deltas], None

    def apply_grad(self, grad, args):
        self.ak = self.a / (self.A + self.k) ** self.alpha
        return [a - self.ak * g for a, g in zip(args, grad)]

    def step_and_cost(self, objective_fn, *args, grad_fn=None, argnum=None, **kwargs):
        out = super().step_and_cost(objective_fn, *args, argnum=argnum, **kwargs)
        self.k += 1
        return out

    def step(self, objective_fn, *args, grad_fn=None, argnum=None, **kwargs):
        out = super().step(objective_fn, *args, argnum=argnum, **kwargs)
        self.k += 1
        return out


class QNGOptimizer(GradientDescentOptimizer):
    """Quantum natural gradient (Stokes et al. 2020): ``x <- x - stepsize * pinv(g + lam I) grad`` with the
    block-diagonal metric tensor ``g`` of the qnode's state. The objective must be a :class:`QNode` with one
    weight argument and one expectation value (or pass ``metric_tensor_fn``)."""

    def __init__(self, stepsize: float = 0.01, approx: str = "block-diag", lam: float = 0):
        super().__init__(stepsize)
        if approx not in ("block-diag",):
            raise ValueError(f"QNGOptimizer: approx must be 'block-diag', got {approx!r}")
        self.approx = approx
        self.lam = _positive("lam", lam, allow_zero=True)
        self.metric_tensor = None

    def _metric(self, qnode, args, kwargs, recompute_tensor, metric_tensor_fn, size):
        if recompute_tensor or self.metric_tensor is None:
            if metric_tensor_fn is not None:
                mt = np.asarray(metric_tensor_fn(*args, **kwargs), dtype=float)
            else:
                if not isinstance(qnode, QNode):
                    raise TypeError("QNGOptimizer needs a pq.qnode objective or metric_tensor_fn=")
                mt = metric_tensor(qnode, *args, **kwargs)
            mt = mt.reshape(size, size) + self.lam * np.eye(size)
            self.metric_tensor = mt
        return self.metric_tensor

    def step_and_cost(self, qnode, *args, grad_fn=None, recompute_tensor=True, metric_tensor_fn=None, argnum=None,
                      **kwargs):
        nums = _trainable(qnode, args, kwargs, grad_fn, argnum)
        if len(nums) != 1:
            raise ValueError("QNGOptimizer takes exactly one trainable argument")
        (i,) = nums
        full = list(args)
        (full[i],) = _as_arrays([args[i]])
        mt = self._metric(qnode, full, kwargs, recompute_tensor, metric_tensor_fn, full[i].size)
        grads, forward = self.compute_grad(qnode, full, kwargs, grad_fn, nums)
        update = np.linalg.pinv(mt) @ grads[0].ravel()
        out = list(args)
        out[i] = _like(args[i], full[i] - self.stepsize * update.reshape(full[i].shape))
        if forward is None:
            forward = float(qnode(**_qnode_kwargs(qnode, full, kwargs)))
        return _ret(out), forward

    def step(self, qnode, *args, grad_fn=None, recompute_tensor=True, metric_tensor_fn=None, argnum=None, **kwargs):
        return self.step_and_cost(qnode, *args, grad_fn=grad_fn, recompute_tensor=recompute_tensor,
                                  metric_tensor_fn=metric_tensor_fn, argnum=argnum, **kwargs)[0]


class RotosolveOptimizer:
    """Rotosolve (Ostaszewski et al., Quantum 5, 391 (2021)): coordinate-wise exact minimisation for
    objectives of the form ``a + b cos(x_i) + c sin(x_i)`` in every parameter (each weight feeding one
    Pauli rotation with scale 1). Three evaluations per parameter (at x_i and x_i +- 2 pi/3) fix a, b, c; the
    parameter moves to the minimiser, wrapped into (-pi, pi]. Parameters are swept in order, each sub-step
    using the values already updated.
    """

    def __init__(self, substep_optimizer: str = "closed-form"):
        if substep_optimizer != "closed-form":
            raise ValueError("RotosolveOptimizer supports the closed-form single-frequency update only")
        self.substep_optimizer = substep_optimizer

    def step_and_cost(self, objective_fn, *args, nums_frequency=None, full_output=False, **kwargs):
        if nums_frequency is not None:
            for name, freqs in dict(nums_frequency).items():
                vals = freqs.values() if isinstance(freqs, dict) else [freqs]
                if any(int(v) != 1 for v in vals):
                    raise ValueError(f"RotosolveOptimizer: only one frequency per parameter is supported ({name})")
        args = _as_arrays(args)
        shifts = np.array([0.0, 2 * math.pi / 3, -2 * math.pi / 3])
        cost0 = None
        history = []
        for a in args:
            flat = a.reshape(-1)
            for i in range(a.size):
                x0 = flat[i]
                fs = []
                for s in shifts:
                    flat[i] = x0 + s
                    fs.append(float(np.asarray(objective_fn(*args, **kwargs)).reshape(())))
                flat[i] = x0
                if cost0 is None:
                    cost0 = fs[0]
                ang = x0 + shifts
                A = np.stack([np.ones(3), np.cos(ang), np.sin(ang)], axis=1)
                c0, c1, c2 = np.linalg.solve(A, np.array(fs))
                xmin = math.atan2(-c2, -c1)
                flat[i] = (xmin + math.pi) % (2 * math.pi) - math.pi if xmin != math.pi else math.pi
                history.append(c0 - math.hypot(c1, c2))
        new = _ret(args)
        return (new, cost0, history) if full_output else (new, cost0)

    def step(self, objective_fn, *args, nums_frequency=None, full_output=False, **kwargs):
        out = self.step_and_cost(objective_fn, *args, nums_frequency=nums_frequency, full_output=full_output,
                                 **kwargs)
        return (out[0], out[2]) if full_output else out[0]


class ScipyOptimizer:
    """A bridge to ``scipy.optimize.minimize`` with exact gradients: gradient methods (L-BFGS-B, BFGS, CG,
    SLSQP, ...) get ``jac`` from the same sources as the other optimisers; gradient-free ones (COBYLA,
    Nelder-Mead, Powell) call the objective only. One trainable argument (any shape).

    >>> res = ScipyOptimizer("L-BFGS-B").minimize(qnode, w0)
    >>> res.x.shape == w0.shape
    """

    GRADIENT_FREE = ("COBYLA", "COBYQA", "NELDER-MEAD", "POWELL")

    def __init__(self, method: str = "L-BFGS-B", tol: float | None = None, options: dict | None = None):
        if not isinstance(method, str):
            raise TypeError(f"method must be a string, got {method!r}")
        self.method = method
        self.tol = None if tol is None else _positive("tol", tol)
        self.options = dict(options or {})

    def minimize(self, objective_fn, x0, grad_fn=None, bounds=None, callback=None, **kwargs):
        try:
            from scipy.optimize import minimize
        except ImportError as e:  # pragma: no cover
            raise ImportError("ScipyOptimizer needs scipy (pip install scipy)") from e
        (x0,) = _as_arrays([x0])
        shape = x0.shape
        n_evals = {"fun": 0, "jac": 0}

        def fun(v):
            n_evals["fun"] += 1
            return float(np.asarray(objective_fn(v.reshape(shape), **kwargs)).reshape(()))

        def fun_and_jac(v):
            n_evals["jac"] += 1
            val, grads = value_and_grad(objective_fn, [v.reshape(shape)], kwargs, grad_fn)
            if val is None:
                val = float(np.asarray(objective_fn(v.reshape(shape), **kwargs)).reshape(()))
            return val, grads[0].ravel()

        if self.method.upper() in self.GRADIENT_FREE:
            res = minimize(fun, x0.ravel(), method=self.method, tol=self.tol, options=self.options,
                           bounds=bounds, callback=callback)
        else:
            res = minimize(fun_and_jac, x0.ravel(), jac=True, method=self.method, tol=self.tol,
                           options=self.options, bounds=bounds, callback=callback)
        res.x = res.x.reshape(shape)
        return res
