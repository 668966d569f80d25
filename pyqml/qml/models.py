"""Hybrid models: numpy classical layers composed with qnode layers, trained end to end by backpropagation
through the qnode's batched vector-Jacobian product.

::

    X (B, d) ──▶ QuantumLayer ──▶ Dense ──▶ softmax / cross-entropy
                 (one engine call       (numpy)
                  for the whole batch)
    backward:    qnode.vjp(X, W, cot)  ◀── dL/d(outputs)

Every layer has ``forward(x, train)``, ``backward(dy) -> dx`` (which also fills ``grads``), ``params`` (a list
of arrays updated in place by the optimiser) and ``grads`` (same shapes). Any pyqml optimiser drives the
update through its ``apply_grad``.

Flat parameters: a model of Dense, QuantumLayer and Activation layers holds every parameter as a view into
one contiguous vector (and every gradient into another), so a training step with one of pyqml's gradient
optimisers updates all of them at once in place (``update_flat``: the same arithmetic as ``apply_grad``, bit
for bit), the quantum layer hands its slice of the vector to the engine without packing, and the dense layers
and the softmax cross-entropy reuse their buffers while the batch shape repeats. Reading or assigning
``params`` (in place, ``dense.W = ...``, or replacing an entry of a layer's ``params`` list) keeps the model
consistent: a replaced array is copied back into the vector before the next step.

Training head: in a training step (``train_step``, ``fit``, ``value_and_grad``) the trailing Dense and
Activation layers and a CrossEntropyLoss or MSELoss run in one engine call (``_core.TrainingHead``,
cpp/src/training/head.cpp): forward, loss, its gradient and the backward pass, each dense layer's gradients
written into the grads vector and the cotangent of the head's input handed to the layer before it (the
quantum layer's VJP). The same numpy operations in the same order (the matmuls as BLAS's multiply-add
chains), within 1e-12 of the layer-by-layer path. Other losses and layers take the layers' own training
calls. The step's plan (head, optimiser stepper) is built once and checked by one identity-guard call at
each ``train_step``; ``fit`` checks it before its first epoch, after it and after each callback.

Fused step: when the first layer is a QuantumLayer with exact expectation values and adjoint gradients on
the CPU state vector and the other layers are the training head, a step with one of the built-in optimisers
(from the step after the one that made its state) is one engine call (``_core.HybridTrainingStep``,
cpp/src/training/hybrid_step.cpp): the quantum values with the VJP's states kept, the head, the VJP into the
quantum weights' gradients and the optimiser's flat update, the same engine calls in the same order as the
layer-by-layer step (the same bits), one GIL release, its buffers reused step after step.
``HybridModel.fused_step = False`` takes the layer-by-layer step.
"""
from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from typing import Callable

import numpy as np

from .. import _core
from ..frontend.qnode import QNode
from .optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    NesterovMomentumOptimizer,
    QNGOptimizer,
    RMSPropOptimizer,
    SPSAOptimizer,
    _split_flat,
)

_all_finite = _core._all_finite
_identities_hold = _core.identities_hold
_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
# Optimisers whose in-place flat step (update_flat) is their apply_grad's arithmetic; subclasses (which may
# override apply_grad) step through apply_grad on the per-parameter arrays.
_FLAT_OPTIMIZERS = frozenset((GradientDescentOptimizer, MomentumOptimizer, NesterovMomentumOptimizer,
                              AdagradOptimizer, RMSPropOptimizer, AdamOptimizer))

__all__ = [
    "Activation",
    "CrossEntropyLoss",
    "Dense",
    "HybridModel",
    "MSELoss",
    "QuantumLayer",
    "Sequential",
    "softmax",
]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Layer:
    params: list
    grads: list

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def train_forward(self, x: np.ndarray) -> np.ndarray:
        """``forward(x, train=True)`` as a model's training step calls it: ``x`` is a float64 (rows, features)
        array and the result may be a buffer that the next step reuses (read it before then)."""
        return self.forward(x, True)

    def train_backward(self, dy: np.ndarray, need_dx: bool = True):
        """``backward(dy)`` as a model's training step calls it after :meth:`train_forward` (the input
        gradient may be a reused buffer); ``need_dx=False``: the caller does not need it (the first layer)."""
        return self.backward(dy)


class _FlatLayer(Layer):
    """A layer whose ``params`` and ``grads`` are views into one flat vector each (its own, or its slice of
    a model's vector). ``_link`` is (params vector, grads vector, param views, grad views, owner of the params
    memory); a list entry replaced by the user, or a copy (pickle, deepcopy) that kept no views, is detected
    by :meth:`_linked` and the current values are copied into a new vector."""

    _link = None

    def bind_flat(self, pv: np.ndarray | None = None, gv: np.ndarray | None = None) -> None:
        """Copy the current params (and grads) into ``pv`` (``gv``), or new vectors, and make them views."""
        params = [np.asarray(p, dtype=float) for p in self.params]
        shapes = [p.shape for p in params]
        n = sum(p.size for p in params)
        grads = list(getattr(self, "grads", None) or [])
        pv = np.empty(n) if pv is None else pv
        gv = np.zeros(n) if gv is None else gv
        if n:
            np.concatenate([p.reshape(-1) for p in params], out=pv)
            if len(grads) == len(params) and all(np.shape(g) == s for g, s in zip(grads, shapes)):
                np.concatenate([np.asarray(g, dtype=float).reshape(-1) for g in grads], out=gv)
            else:
                gv[...] = 0.0
        self.params, self.grads = _split_flat(pv, shapes), _split_flat(gv, shapes)
        self._link = (pv, gv, tuple(self.params), tuple(self.grads), pv if pv.base is None else pv.base)

    def _linked(self) -> bool:
        link = self._link
        if link is None:
            return False
        ps, gs = self.params, self.grads
        return (len(ps) == len(link[2]) and all(map(operator.is_, ps, link[2])) and len(gs) == len(link[3])
                and all(map(operator.is_, gs, link[3])) and (not ps or ps[0].base is link[4]))

    def flat_params(self) -> np.ndarray:
        """This layer's parameters as one flat vector (a view that the optimiser's steps update)."""
        if not self._linked():
            self.bind_flat()
        return self._link[0]

    def flat_vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(params vector, grads vector)`` whose views ``params`` and ``grads`` are, or None when an entry
        was replaced (or the layer was copied) since :meth:`bind_flat`."""
        return self._link[:2] if self._linked() else None


class Dense(_FlatLayer):
    """``y = x @ W + b`` with Glorot-uniform W and zero b.

    ``W`` and ``b`` are ``params[0]`` and ``params[1]``; assigning them copies the values in (same shape).
    """

    def __init__(self, n_in: int, n_out: int, rng=None):
        if int(n_in) < 1 or int(n_out) < 1:
            raise ValueError(f"Dense needs positive sizes, got ({n_in}, {n_out})")
        rng = np.random.default_rng(rng)
        lim = np.sqrt(6.0 / (n_in + n_out))
        self.params = [rng.uniform(-lim, lim, (int(n_in), int(n_out))), np.zeros(int(n_out))]
        self.grads = []
        self.bind_flat()
        self._x = None
        self._bufs = {}  # rows -> (output, input gradient) buffers of the training step

    def _set(self, i: int, name: str, value) -> None:
        value = np.asarray(value, dtype=float)
        cur = self.params[i]
        if value.shape != cur.shape:
            raise ValueError(f"Dense.{name} has shape {cur.shape}, got an array of shape {value.shape}")
        cur[...] = value

    @property
    def W(self) -> np.ndarray:
        return self.params[0]

    @W.setter
    def W(self, value) -> None:
        self._set(0, "W", value)

    @property
    def b(self) -> np.ndarray:
        return self.params[1]

    @b.setter
    def b(self, value) -> None:
        self._set(1, "b", value)

    def forward(self, x, train=False):
        W, b = self.params
        if x.shape[-1] != W.shape[0]:
            raise ValueError(f"Dense layer expects {W.shape[0]} features, got {x.shape[-1]}")
        if train:
            self._x = x
        return x @ W + b

    def backward(self, dy):
        np.matmul(self._x.T, dy, out=self.grads[0])
        np.sum(dy, axis=0, out=self.grads[1])
        return dy @ self.params[0].T

    def train_forward(self, x):
        W, b = self.params
        if x.ndim != 2 or x.shape[1] != W.shape[0]:
            raise ValueError(f"Dense layer expects {W.shape[0]} features, got {x.shape[-1]}")
        rows = x.shape[0]
        bufs = self._bufs.get(rows)
        if bufs is None:
            bufs = self._bufs[rows] = (np.empty((rows, W.shape[1])), np.empty((rows, W.shape[0])))
        y = bufs[0]
        np.matmul(x, W, out=y)
        _core.add_bias(y, b)  # y + b row by row (numpy's broadcast add loops over the few columns)
        self._x = x
        return y

    def train_backward(self, dy, need_dx=True):
        x = self._x
        np.matmul(x.T, dy, out=self.grads[0])
        gb = self.grads[1]
        if gb.shape[0] >= 2 and type(dy) is np.ndarray and dy.dtype == _F64 and dy.flags.c_contiguous:
            _core.column_sums(dy, gb)  # numpy's np.sum(dy, axis=0): row after row, from 2 columns on
        else:
            np.add.reduce(dy, axis=0, out=gb)
        if not need_dx:
            return None
        bufs = self._bufs.get(x.shape[0])
        if bufs is None or dy.shape != bufs[0].shape:
            return dy @ self.params[0].T
        np.matmul(dy, self.params[0].T, out=bufs[1])
        return bufs[1]


class Activation(Layer):
    """Element-wise ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"identity"``."""

    KINDS = ("relu", "tanh", "sigmoid", "identity")

    def __init__(self, kind: str = "relu"):
        if kind not in self.KINDS:
            raise ValueError(f"activation must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.params, self.grads = [], []
        self._cache = None

    def forward(self, x, train=False):
        if self.kind == "relu":
            y = np.maximum(x, 0.0)
        elif self.kind == "tanh":
            y = np.tanh(x)
        elif self.kind == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-x))
        else:
            y = x
        if train:
            self._cache = (x, y)
        return y

    def backward(self, dy):
        x, y = self._cache
        if self.kind == "relu":
            return dy * (x > 0)
        if self.kind == "tanh":
            return dy * (1.0 - y * y)
        if self.kind == "sigmoid":
            return dy * y * (1.0 - y)
        return dy


class QuantumLayer(_FlatLayer):
    """A qnode ``f(inputs, **weights)`` returning a list of expectation values, as a layer.

    Parameters
    ----------
    qnode : QNode
        Takes ``inputs`` (B, d) and the weight arguments named in ``weight_shapes``.
    weight_shapes : dict
        ``{name: shape}`` of the trainable weight arguments.
    init : callable, optional
        ``init(rng, shape) -> array``; default uniform in [0, 2 pi).
    rng : int or Generator, optional
    """

    def __init__(self, qnode: QNode, weight_shapes: dict, init: Callable | None = None, rng=None):
        if not isinstance(qnode, QNode):
            raise TypeError(f"QuantumLayer needs a pq.qnode, got {type(qnode).__name__}")
        if not qnode.takes_inputs:
            raise ValueError("the qnode of a QuantumLayer must take an argument named 'inputs'")
        names = qnode.weight_names
        if sorted(names) != sorted(weight_shapes):
            raise ValueError(f"weight_shapes names {sorted(weight_shapes)} do not match the qnode's weight "
                             f"arguments {names}")
        rng = np.random.default_rng(rng)
        init = init or (lambda r, shape: r.uniform(0.0, 2 * np.pi, shape))
        self.qnode = qnode
        self.names = names
        self.params = [np.asarray(init(rng, tuple(np.atleast_1d(weight_shapes[n]).tolist())), dtype=float)
                       for n in names]
        self.grads = []
        self.bind_flat()  # the params are views of one vector: the engine's flat weights, no packing
        self._x = self._w = self._xcq = None  # the last training forward's rows, weights, compiled qnode
        self._cq = None  # ((n_inputs, weight shapes), CompiledQNode) of the last call

    def compiled(self, n_inputs: int):
        """The qnode compiled for this layer's weight shapes and ``n_inputs`` features per row."""
        key = (n_inputs, tuple([p.shape for p in self.params]))
        hit = self._cq
        if hit is not None and hit[0] == key:
            return hit[1]
        cq = self.qnode.compile(list(key[1]), n_inputs)
        self._cq = (key, cq)
        return cq

    def forward(self, x, train=False):
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            return self.forward(x[None, :], train)[0]
        if x.ndim != 2:
            raise ValueError(f"a QuantumLayer takes rows of features (rows, features), got shape {x.shape}")
        if not _all_finite(x):
            raise ValueError("inputs contain NaN or infinite values")
        x = np.ascontiguousarray(x)
        cq = self.compiled(x.shape[1])
        w = cq.pack(self.params)
        if train:
            self._x, self._w, self._xcq = x, w, cq
        if cq.expval_only:
            return cq.expval(w, x)
        return np.concatenate([np.asarray(r, dtype=float).reshape(x.shape[0], -1) for r in cq.measure(w, x)], axis=1)

    def train_forward(self, x, need_dx: bool = False):
        # x: float64 rows from the model's step (checked there or the previous layer's output); need_dx: the
        # step's backward will ask this layer for its input gradient (the forward then keeps what serves it)
        if x.ndim != 2:
            raise ValueError(f"a QuantumLayer takes rows of features (rows, features), got shape {x.shape}")
        if not _all_finite(x):
            raise ValueError("inputs contain NaN or infinite values")
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        cq = self.compiled(x.shape[1])
        w = self.flat_params()  # updated in place only after backward
        self._x, self._w, self._xcq = x, w, cq
        self._saved = None
        if cq.expval_only:
            # The engine keeps what the forward computed for _backward's VJP on the same (w, x); the handle
            # owns copies of both, so weights changed in between make the VJP recompute, never go stale.
            vals, self._saved = cq.forward(w, x, need_dx=need_dx and getattr(self, "input_grad", True))
            return vals
        return np.concatenate([np.asarray(r, dtype=float).reshape(x.shape[0], -1) for r in cq.measure(w, x)], axis=1)

    def backward(self, dy):
        return self._backward(dy, getattr(self, "input_grad", True))

    def train_backward(self, dy, need_dx=True):
        return self._backward(dy, need_dx and getattr(self, "input_grad", True))

    def _backward(self, dy, need_dx):
        cq = self._xcq  # compiled for the rows of the forward pass
        # A layer whose input gradient is unused (input_grad = False, or the model's first layer) skips it:
        # dx is then None.
        _, dw, dx = cq.vjp(self._w, self._x, dy, need_dx=need_dx, saved=getattr(self, "_saved", None))
        if self._linked():
            np.copyto(self._link[1], dw)  # the grads are views of this vector
        else:
            for g, d in zip(self.grads, cq.unpack(dw)):
                g[...] = d
        return dx


class Sequential(Layer):
    """Layers applied in order."""

    def __init__(self, layers: Sequence[Layer]):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")

    @property
    def params(self):
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        return [g for layer in self.layers for g in layer.grads]

    def forward(self, x, train=False):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


class CrossEntropyLoss:
    """Mean softmax cross-entropy of logits (B, C) against integer labels (B,)."""

    def __init__(self):
        self._bufs = {}  # (rows, classes) -> buffers of the training step's fused loss

    def __call__(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """``(loss, d loss / d logits)``."""
        p = softmax(logits)
        n = logits.shape[0]
        rows = np.arange(n)
        # (the sum over n: np.mean's own reduction and division, without its wrappers)
        loss = -float(np.log(np.maximum(p[rows, y], 1e-300)).sum() / n)
        p[rows, y] -= 1.0
        return loss, p / n

    def buffered(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`__call__` in a model's training step: one engine pass (``_core.softmax_cross_entropy``,
        cpp/src/training/steps.cpp) with the same arithmetic, element for element, into buffers reused while
        the shape repeats (the gradient returned is one of them).

        Labels out of range raise ValueError (negative labels count from the last class, as numpy indexing
        does); 8 classes or more take :meth:`__call__` (numpy sums 8 or more numbers pairwise)."""
        if type(logits) is not np.ndarray or logits.ndim != 2 or logits.dtype != _F64 \
                or not logits.flags.c_contiguous or not 1 <= logits.shape[1] < 8:
            return self(logits, y)
        n, c = logits.shape
        if type(y) is not np.ndarray or y.dtype != _I64 or not y.flags.c_contiguous:
            y = np.asarray(y)
            if y.dtype.kind not in "iu":
                raise TypeError(f"cross-entropy labels must be integers, got {y.dtype}")
            y = np.ascontiguousarray(y, dtype=np.int64)
        bufs = getattr(self, "_bufs", None)
        if bufs is None:
            bufs = self._bufs = {}
        b = bufs.get((n, c))
        if b is None:
            b = bufs[(n, c)] = (np.empty(n), np.empty((n, c)))
        logp, d = b
        _core.softmax_cross_entropy(logits, y, logp, d)
        # (the sum over rows: numpy's pairwise sum, as __call__'s)
        return -float(logp.sum() / n), d


class MSELoss:
    """Mean squared error over all entries."""

    def __call__(self, pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        y = np.asarray(y, dtype=float).reshape(pred.shape)
        diff = pred - y
        return float(np.mean(diff * diff)), 2.0 * diff / diff.size


def _head_start(layers) -> int:
    """Where the trailing run of Dense and Activation layers (exact types: a subclass may override forward or
    backward) begins: the layers a training head takes over."""
    i = len(layers)
    while i > 0:
        layer = layers[i - 1]
        if not (type(layer) is Dense or (type(layer) is Activation and layer.kind in Activation.KINDS)):
            break
        i -= 1
    return i


def _head_widths(spec: list, n_in: int) -> list:
    """The head's layer tuples with each activation's width (its input's)."""
    out, width = [], n_in
    for t in spec:
        if t[0] == "dense":
            out.append(t)
            width = t[2]
        else:
            out.append((t[0], width, width, 0, 0))
    return out


def _fused_step(fuse, optimizer, flat, gflat, shapes, width: int, slow):
    """``run(X, y)``: the whole training step in one engine call
    (``_core.HybridTrainingStep``, cpp/src/training/hybrid_step.cpp), or None where it does not apply.

    It applies to a model whose first layer is a QuantumLayer and whose other layers are the training head
    (``fuse``: the layer, the head's layer tuples and loss), when the layer's qnode compiled for ``width``
    features gives exact expectation values with adjoint gradients on the CPU state vector (no shots, no
    derived input columns), and the optimiser has a fused rule on its current state
    (``fused_rule``: not before its first step). The call runs the pieces the step runs through Python, in
    the same order on the same numbers (the bits of ``slow``, the plan's step otherwise), with one GIL
    release and no allocation once the row count repeats; rows of another width (or none) take ``slow``."""
    layer, spec, kind = fuse
    rule = optimizer.fused_rule(flat, gflat, shapes)
    if rule is None:
        return None
    name, arrays, wrap = rule
    if name == "momentum" and type(optimizer) is NesterovMomentumOptimizer:
        name = "nesterov"  # the plan's step takes the gradient at the look-ahead point for this type
    vectors = layer.flat_vectors()
    if vectors is None or vectors[0].base is not flat:
        return None
    try:
        cq = layer.compiled(int(width))
        if (not cq.expval_only or cq.shot_count(None) is not None or cq.qnode.diff_method != "adjoint"
                or cq.circuit.derived_inputs is not None or cq.n_weights != vectors[0].size):
            return None
        engine = getattr(cq.executor(), "cpu_engine", None)
        if engine is None:
            return None
        head_spec = _head_widths(spec, cq.n_outputs)
        call = _core.HybridTrainingStep(engine, head_spec, kind, flat, gflat, _offset(vectors[0], flat), name,
                                        arrays).run
    except (TypeError, ValueError):  # the layer-by-layer step names what does not fit
        return None
    fast = wrap(call)

    def run(X, y):
        shape = X.shape
        if shape[1] == width and shape[0]:
            return fast(X, y)
        return slow(X, y)

    return run


def _offset(view: np.ndarray, base: np.ndarray) -> int:
    """The index in ``base`` where the view ``view`` starts."""
    return (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize


def _train_forward(layer, need_dx=False):
    if isinstance(layer, QuantumLayer):  # its forward keeps what the backward's VJP (with dx or not) needs
        f = layer.train_forward
        return (lambda x: f(x, need_dx=True)) if need_dx else f
    f = getattr(layer, "train_forward", None)
    return f if f is not None else (lambda x: layer.forward(x, True))


def _train_backward(layer):
    b = getattr(layer, "train_backward", None)
    return b if b is not None else (lambda d, need_dx: layer.backward(d))


def _rows(X) -> np.ndarray:
    if type(X) is np.ndarray and X.dtype is _F64 and X.ndim == 2 and X.flags.c_contiguous:
        return X
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be (rows, features), got shape {X.shape}")
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    return X


def _labels(y) -> np.ndarray:
    """Cross-entropy labels as one contiguous int64 vector (the training head's)."""
    if type(y) is np.ndarray and y.dtype is _I64 and y.flags.c_contiguous:
        return y
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"cross-entropy labels must be integers, got {y.dtype}")
    return np.ascontiguousarray(y, dtype=np.int64)


def _targets(y) -> np.ndarray:
    """Mean-squared-error targets as contiguous float64 (read in C order, as MSELoss reshapes them)."""
    return np.ascontiguousarray(y, dtype=float)


def _same(y):
    return y


def _always() -> bool:
    return True


class HybridModel:
    """A network of classical and quantum layers with a loss, trained by any pyqml optimiser.

    >>> model = HybridModel([QuantumLayer(qnode, {"weights": (2, 4, 3)}, rng=0), Dense(4, 3, rng=0)])
    >>> history = model.fit(X, y, epochs=100, optimizer=pq.AdamOptimizer(0.1))

    ``fused_step`` (default True): a model whose first layer is a QuantumLayer on the state vector and whose
    other layers form the training head takes each training step with a built-in optimiser as one engine
    call (``_core.HybridTrainingStep``: values, head, VJP and update); False takes the same step through the
    layers' calls. Both give the same bits.
    """

    fused_step = True

    def __init__(self, layers: Sequence[Layer], loss: str | Callable = "cross_entropy"):
        self.net = Sequential(layers)
        if isinstance(loss, str) and loss == "cross_entropy":
            self.loss = CrossEntropyLoss()
        elif isinstance(loss, str) and loss == "mse":
            self.loss = MSELoss()
        elif callable(loss):
            self.loss = loss
        else:
            raise ValueError(f"loss must be 'cross_entropy', 'mse' or a callable, got {loss!r}")
        self._flat = None  # (layers, params vector, grads vector, shapes, look-ahead copy), see _adopt
        self._adopt()

    @property
    def params(self) -> list[np.ndarray]:
        return self.net.params

    # --- flat parameters ---
    def _adopt(self) -> None:
        """Make every layer's params and grads views into one vector each (current values copied in), when
        every layer with parameters is a Dense or QuantumLayer; else the model steps the per-layer lists."""
        layers = tuple(self.net.layers)
        self._flat = None
        if not all(isinstance(layer, _FlatLayer) or not getattr(layer, "params", None) for layer in layers):
            return
        flats = [layer for layer in layers if isinstance(layer, _FlatLayer)]
        sizes = [sum(int(np.size(p)) for p in layer.params) for layer in flats]
        flat, gflat = np.empty(sum(sizes)), np.zeros(sum(sizes))
        off = 0
        for layer, size in zip(flats, sizes):
            layer.bind_flat(flat[off:off + size], gflat[off:off + size])
            off += size
        shapes = tuple(p.shape for layer in flats for p in layer.params)
        self._flat = (layers, flat, gflat, shapes, np.empty_like(flat), tuple(flats))

    def _flat_current(self) -> bool:
        """True when the layers and every layer's params and grads are still the views of _adopt."""
        st = self._flat
        if st is None:
            return False
        layers = self.net.layers
        if len(layers) != len(st[0]) or not all(map(operator.is_, layers, st[0])):
            return False
        flat = st[1]
        for layer in st[5]:
            vectors = layer.flat_vectors()
            if vectors is None or vectors[0].base is not flat:
                return False
        return True

    def _flat_state(self):
        if not self._flat_current():
            self._adopt()
        return self._flat

    # --- the training step's plans ---
    # A plan is built once per flat state (and loss, and optimiser) and checked by identity at each
    # train_step: _vg_plan's vg(X, y) is one forward and one backward (the grads vector filled), the layers
    # before the head through their training calls, the head (the trailing Dense / Activation layers and
    # a CrossEntropyLoss or MSELoss) in one engine call (_core.TrainingHead, cpp/src/training/head.cpp);
    # _step_plan's run(X, y) adds the optimiser's flat step (its flat_stepper).
    _plan = None  # (optimizer, guard, run(X, y), prep(y)), see _step_plan
    _vg = None  # (flat state, loss, current(), vg(X, y), prep(y), head run or None, activations, fusable), see _vg_plan

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_plan", None)  # closures and the engine's head: rebuilt on the next step
        state.pop("_vg", None)
        return state

    def _vg_plan(self, st):
        vp = self._vg
        if vp is None or vp[0] is not st or vp[1] is not self.loss or not vp[2]():
            vp = self._vg = self._make_vg(st)
        return vp

    def _make_vg(self, st):
        layers, flat, gflat = st[0], st[1], st[2]
        loss = self.loss
        kind = "cross_entropy" if type(loss) is CrossEntropyLoss else "mse" if type(loss) is MSELoss else None
        start = _head_start(layers) if kind is not None else len(layers)
        fwd = [_train_forward(layer, i > 0) for i, layer in enumerate(layers[:start])]
        bwd = [(_train_backward(layer), i > 0) for i, layer in reversed(list(enumerate(layers[:start])))]
        if kind is None:  # a loss of the user's: the layers' training calls, the loss in Python
            def vg(X, y):
                x = X
                for f in fwd:
                    x = f(x)
                value, d = loss(x, y)
                for b, need in bwd:
                    d = b(d, need)
                return value

            return (st, loss, _always, vg, _same, None, (), None)
        spec, acts = [], []
        for layer in layers[start:]:
            if type(layer) is Dense:
                W, b = layer.params
                spec.append(("dense", W.shape[0], W.shape[1], _offset(W, flat), _offset(b, flat)))
            else:
                spec.append((layer.kind, 0, 0, 0, 0))
                acts.append((layer, layer.kind))
        need_dx = start > 0
        first = next((t for t in spec if t[0] == "dense"), None)
        if first is not None:  # the input width: the first dense layer's (activations keep widths)
            head = _core.TrainingHead(_head_widths(spec, first[1]), kind, first[1], flat, gflat, need_dx).run
        else:  # activations only: the width is the input's
            heads = {}

            def head(x, y):
                n = x.shape[-1] if getattr(x, "ndim", 0) else 0
                h = heads.get(n)
                if h is None:
                    h = heads[n] = _core.TrainingHead(_head_widths(spec, n), kind, n, flat, gflat, need_dx).run
                return h(x, y)

        if not fwd:
            def vg(X, y):
                return head(X, y)[0]
        elif len(fwd) == 1:
            f0, b0 = fwd[0], bwd[0][0]

            def vg(X, y):
                value, d = head(f0(X), y)
                b0(d, False)
                return value
        else:
            def vg(X, y):
                x = X
                for f in fwd:
                    x = f(x)
                value, d = head(x, y)
                for b, need in bwd:
                    d = b(d, need)
                return value

        if acts:  # an activation's kind may be reassigned
            def current():
                return all(layer.kind == k for layer, k in acts)
        else:
            current = _always
        # A quantum layer first and the head after it: the whole step may run as one engine call (_fused_step).
        fuse = (layers[0], spec, kind) if start == 1 and type(layers[0]) is QuantumLayer else None
        return (st, loss, current, vg, _labels if kind == "cross_entropy" else _targets, head, tuple(acts), fuse)

    def _step_plan(self, optimizer, st, width=None):
        """The plan of a training step with one of the built-in gradient optimisers on the flat vectors:
        (optimizer, guard, run(X, y), prep(y)); the guard's identities (``_core.identities_hold``: the
        model's flat state, layers, their params and grads lists and items, the loss, the activations'
        kinds, the optimiser's state) hold while the plan is the one to take. ``width``: the feature count
        of the rows the step is built for; with it, a model whose quantum layer comes first and whose other
        layers form the training head steps in one engine call on rows of that width (:func:`_fused_step`)."""
        vp = self._vg_plan(st)
        vg, prep = vp[3], vp[4]
        flat, gflat, shapes, saved = st[1], st[2], st[3], st[4]
        step, opt_guard, look = optimizer.flat_stepper(flat, gflat, shapes)
        copyto = np.copyto

        if type(optimizer) is NesterovMomentumOptimizer:
            def run(X, y):
                copyto(saved, flat)
                if look():  # the gradient at the look-ahead point x - momentum * a (after the first step)
                    try:
                        value = vg(X, y)
                    finally:
                        copyto(flat, saved)
                else:
                    value = vg(X, y)
                step()
                return value
        else:
            def run(X, y):
                value = vg(X, y)
                step()
                return value

        fuse_on = self.fused_step
        if vp[7] is not None and width is not None and fuse_on:
            run = _fused_step(vp[7], optimizer, flat, gflat, shapes, width, run) or run
        net = self.net
        guard = [(self, "_flat", st), (self, "loss", self.loss), (self, "net", net), (net, "layers", net.layers),
                 (net.layers, None, tuple(st[0])), (self, "fused_step", fuse_on)]
        for layer in st[5]:
            guard += [(layer, "params", layer.params), (layer.params, None, tuple(layer.params)),
                      (layer, "grads", layer.grads), (layer.grads, None, tuple(layer.grads))]
        guard += [(layer, "kind", kind) for layer, kind in vp[6]]
        self._plan = plan = (optimizer, tuple(guard + list(opt_guard)), run, prep)
        return plan

    def _flat_plan(self, optimizer, width=None):
        """The step plan for ``optimizer`` (the last one while its guard holds, else a new one, for rows of
        ``width`` features), or None when the model or the optimiser takes the per-parameter path."""
        plan = self._plan
        if plan is not None and plan[0] is optimizer and _identities_hold(plan[1]):
            return plan
        if type(optimizer) not in _FLAT_OPTIMIZERS:
            return None
        st = self._flat_state()
        if st is None:
            return None
        return self._step_plan(optimizer, st, width)

    def forward(self, X) -> np.ndarray:
        return self.net.forward(np.asarray(X, dtype=float), train=False)

    def value_and_grad(self, X, y) -> tuple[float, list[np.ndarray]]:
        """Loss on (X, y) and its gradient with respect to every parameter (one forward, one backward)."""
        st = self._flat_state()
        if st is not None:
            vp = self._vg_plan(st)
            return vp[3](_rows(X), vp[4](y)), self.net.grads
        out = self.net.forward(X, train=True)
        loss, d = self.loss(out, y)
        self.net.backward(d)
        return loss, self.net.grads

    def train_step(self, X, y, optimizer) -> float:
        """One optimiser step on (X, y); returns the loss before the step (for Nesterov momentum, at the
        look-ahead point where its gradient is taken)."""
        plan = self._plan
        if plan is None or plan[0] is not optimizer or not _identities_hold(plan[1]):
            shape = np.shape(X)
            plan = self._flat_plan(optimizer, shape[1] if len(shape) == 2 else None)
            if plan is None:
                return self._train_step_lists(X, y, optimizer)
        return plan[2](_rows(X), plan[3](y))

    def _train_step_lists(self, X, y, optimizer) -> float:
        """:meth:`train_step` on the per-parameter lists (apply_grad)."""
        params = self.net.params
        if isinstance(optimizer, NesterovMomentumOptimizer) and optimizer.accumulation is not None:
            saved = [p.copy() for p in params]
            for p, acc in zip(params, optimizer.accumulation):
                p -= optimizer.momentum * acc
            loss, grads = self.value_and_grad(X, y)
            grads = [g.copy() for g in grads]
            for p, q in zip(params, saved):
                p[...] = q
        else:
            loss, grads = self.value_and_grad(X, y)
        new = optimizer.apply_grad(grads, params)
        for p, q in zip(params, new):
            p[...] = q
        return loss

    def _fit_step(self, optimizer, width=None):
        """``(run(X, y) -> loss, prep(y))`` for ``fit``'s epochs on rows of ``width`` features: X checked
        once, y prepared once."""
        plan = self._flat_plan(optimizer, width)
        if plan is not None:
            return plan[2], plan[3]
        return (lambda X, y: self._train_step_lists(X, y, optimizer)), _same

    def fit(self, X, y, epochs: int = 100, optimizer=None, batch_size: int | None = None, rng=None,
            progress: bool = False, callback: Callable | None = None) -> dict:
        """Train for ``epochs`` passes over (X, y); returns ``{"loss": [...], "epoch_time": [...]}``.

        ``batch_size=None`` trains on the whole set each step (one engine call per epoch); otherwise rows are
        shuffled with ``rng`` each epoch. ``progress=True`` shows a tqdm bar (when tqdm is installed).
        ``callback(epoch, loss)`` is called after each epoch.
        """
        X = np.ascontiguousarray(X, dtype=float)
        y = np.ascontiguousarray(y)
        if X.ndim != 2 or y.ndim < 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (rows, features) with one label per row, got {X.shape} and {y.shape}")
        if not _all_finite(X):
            raise ValueError("X contains NaN or infinite values")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        optimizer = optimizer or AdamOptimizer(0.05)
        if not isinstance(optimizer, GradientDescentOptimizer) or isinstance(optimizer, (SPSAOptimizer, QNGOptimizer)):
            raise TypeError("optimizer must be a pyqml gradient optimiser (GradientDescent, Momentum, Nesterov, "
                            f"Adagrad, RMSProp, Adam), got {type(optimizer).__name__}")
        # The plan is checked here, after the first epoch and after each callback (user code); between
        # epochs nothing else runs, so the epochs step it without checking again.
        width = X.shape[1]
        run, prep = self._fit_step(optimizer, width)
        yp = prep(y)
        n = X.shape[0]
        rng = None if batch_size is None or batch_size >= n else np.random.default_rng(rng)
        it = range(int(epochs))
        bar = None
        if progress:
            try:
                from tqdm.auto import tqdm

                bar = tqdm(it, desc="training", unit="epoch")
                it = bar
            except ImportError:
                pass
        history = {"loss": [], "epoch_time": []}
        losses_append, times_append = history["loss"].append, history["epoch_time"].append
        perf = time.perf_counter
        last = int(epochs) - 1
        for epoch in it:
            t0 = perf()
            if rng is None:
                loss = run(X, yp)
            else:
                order = rng.permutation(n)
                losses = []
                for s in range(0, n, int(batch_size)):
                    idx = order[s:s + int(batch_size)]
                    losses.append(run(X[idx], yp[idx]) * len(idx))
                loss = sum(losses) / n
            times_append(perf() - t0)
            losses_append(loss)
            if bar is not None:
                if epoch % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                if epoch == last:
                    bar.set_postfix(loss=f"{loss:.4f}")  # the bar ends on the loss that is reported
            if callback is not None:
                callback(epoch, loss)
                run, prep = self._fit_step(optimizer, width)
            elif epoch == 0:  # the optimiser's state exists now: its stepper without checks
                run, prep = self._fit_step(optimizer, width)
        if bar is not None:
            bar.close()
        return history

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.forward(X))

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.forward(X), axis=1)

    def accuracy(self, X, y) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
