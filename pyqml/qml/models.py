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
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Callable

import numpy as np

from .. import _core
from ..frontend.qnode import QNode
from .optimizers import (
    AdamOptimizer,
    GradientDescentOptimizer,
    NesterovMomentumOptimizer,
    QNGOptimizer,
    SPSAOptimizer,
)

_all_finite = _core._all_finite

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


class Dense(Layer):
    """``y = x @ W + b`` with Glorot-uniform W and zero b."""

    def __init__(self, n_in: int, n_out: int, rng=None):
        if int(n_in) < 1 or int(n_out) < 1:
            raise ValueError(f"Dense needs positive sizes, got ({n_in}, {n_out})")
        rng = np.random.default_rng(rng)
        lim = np.sqrt(6.0 / (n_in + n_out))
        self.W = rng.uniform(-lim, lim, (int(n_in), int(n_out)))
        self.b = np.zeros(int(n_out))
        self.params = [self.W, self.b]
        self.grads = [np.zeros_like(self.W), np.zeros_like(self.b)]
        self._x = None

    def forward(self, x, train=False):
        if x.shape[-1] != self.W.shape[0]:
            raise ValueError(f"Dense layer expects {self.W.shape[0]} features, got {x.shape[-1]}")
        if train:
            self._x = x
        return x @ self.W + self.b

    def backward(self, dy):
        np.matmul(self._x.T, dy, out=self.grads[0])
        np.sum(dy, axis=0, out=self.grads[1])
        return dy @ self.W.T


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


class QuantumLayer(Layer):
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
        self.grads = [np.zeros_like(p) for p in self.params]
        self._x = self._w = None
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
            self._x, self._w = x, w
        if cq.expval_only:
            return cq.expval(w, x)
        return np.concatenate([np.asarray(r, dtype=float).reshape(x.shape[0], -1) for r in cq.measure(w, x)], axis=1)

    def backward(self, dy):
        cq = self.compiled(self._x.shape[1])
        # A layer whose input gradient is unused (input_grad = False, e.g. the first layer) skips it.
        _, dw, dx = cq.vjp(self._w, self._x, dy, need_dx=getattr(self, "input_grad", True))
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

    def __call__(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """``(loss, d loss / d logits)``."""
        p = softmax(logits)
        n = logits.shape[0]
        rows = np.arange(n)
        # (the sum over n: np.mean's own reduction and division, without its wrappers)
        loss = -float(np.log(np.maximum(p[rows, y], 1e-300)).sum() / n)
        p[rows, y] -= 1.0
        return loss, p / n


class MSELoss:
    """Mean squared error over all entries."""

    def __call__(self, pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        y = np.asarray(y, dtype=float).reshape(pred.shape)
        diff = pred - y
        return float(np.mean(diff * diff)), 2.0 * diff / diff.size


class HybridModel:
    """A network of classical and quantum layers with a loss, trained by any pyqml optimiser.

    >>> model = HybridModel([QuantumLayer(qnode, {"weights": (2, 4, 3)}, rng=0), Dense(4, 3, rng=0)])
    >>> history = model.fit(X, y, epochs=100, optimizer=pq.AdamOptimizer(0.1))
    """

    def __init__(self, layers: Sequence[Layer], loss: str | Callable = "cross_entropy"):
        self.net = Sequential(layers)
        if loss == "cross_entropy":
            self.loss = CrossEntropyLoss()
        elif loss == "mse":
            self.loss = MSELoss()
        elif callable(loss):
            self.loss = loss
        else:
            raise ValueError(f"loss must be 'cross_entropy', 'mse' or a callable, got {loss!r}")

    @property
    def params(self) -> list[np.ndarray]:
        return self.net.params

    def forward(self, X) -> np.ndarray:
        return self.net.forward(np.asarray(X, dtype=float), train=False)

    def value_and_grad(self, X, y) -> tuple[float, list[np.ndarray]]:
        """Loss on (X, y) and its gradient with respect to every parameter (one forward, one backward)."""
        out = self.net.forward(X, train=True)
        loss, d = self.loss(out, y)
        self.net.backward(d)
        return loss, self.net.grads

    def train_step(self, X, y, optimizer) -> float:
        """One optimiser step on (X, y); returns the loss before the step (for Nesterov momentum, at the
        look-ahead point where its gradient is taken)."""
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

    def fit(self, X, y, epochs: int = 100, optimizer=None, batch_size: int | None = None, rng=None,
            progress: bool = False, callback: Callable | None = None) -> dict:
        """Train for ``epochs`` passes over (X, y); returns ``{"loss": [...], "epoch_time": [...]}``.

        ``batch_size=None`` trains on the whole set each step (one engine call per epoch); otherwise rows are
        shuffled with ``rng`` each epoch. ``progress=True`` shows a tqdm bar (when tqdm is installed).
        ``callback(epoch, loss)`` is called after each epoch.
        """
        X = np.ascontiguousarray(X, dtype=float)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (rows, features) with one label per row, got {X.shape} and {y.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        optimizer = optimizer or AdamOptimizer(0.05)
        if not isinstance(optimizer, GradientDescentOptimizer) or isinstance(optimizer, (SPSAOptimizer, QNGOptimizer)):
            raise TypeError("optimizer must be a pyqml gradient optimiser (GradientDescent, Momentum, Nesterov, "
                            f"Adagrad, RMSProp, Adam), got {type(optimizer).__name__}")
        rng = np.random.default_rng(rng)
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
        n = X.shape[0]
        for epoch in it:
            t0 = time.perf_counter()
            if batch_size is None or batch_size >= n:
                loss = self.train_step(X, y, optimizer)
            else:
                order = rng.permutation(n)
                losses = []
                for s in range(0, n, int(batch_size)):
                    idx = order[s:s + int(batch_size)]
                    losses.append(self.train_step(X[idx], y[idx], optimizer) * len(idx))
                loss = sum(losses) / n
            history["epoch_time"].append(time.perf_counter() - t0)
            history["loss"].append(loss)
            if bar is not None and epoch % 10 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            if bar is not None and epoch == int(epochs) - 1:
                bar.set_postfix(loss=f"{loss:.4f}")  # the bar ends on the loss that is reported
            if callback is not None:
                callback(epoch, loss)
        if bar is not None:
            bar.close()
        return history

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.forward(X))

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.forward(X), axis=1)

    def accuracy(self, X, y) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
