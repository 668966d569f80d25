"""Derived input features: non-affine functions of an input row, computed in Python before the engine call.

The circuit IR binds every gate angle as ``scale * source[index] + offset`` of ONE input or weight. Some
embeddings need more: IQPEmbedding and ZZFeatureMap use products ``x_i * x_j``, AmplitudeEmbedding needs the
rotation angles of a state-preparation tree (arctangents of partial norms of the row). Such a template asks
the circuit being traced for *derived columns*: new input slots ``x[d], x[d+1], ...`` appended after the d
raw features. At call time the QNode expands each batch ``X (B, d) -> [X, g(X)] (B, d + m)`` before the engine
sees it, and pulls gradients back with the chain rule::

    d/dX = d/dX_ext[..., :d] + d/dX_ext[..., d:] @ J_g(X)        J_g: (B, m, d)

so values, Jacobians and VJPs with respect to the raw inputs stay exact, batched and in one engine call.

::

    raw row x (d) ──▶ DerivedInputs.expand ──▶ [x | g(x)] (d + m) ──▶ engine (affine angles only)
    d/dx (d)      ◀── DerivedInputs.pullback ◀── d/d[x | g(x)]    ◀──
"""
from __future__ import annotations

import numpy as np

from .params import CONST, INPUT, WEIGHT, Param


class DerivedBlock:
    """``m`` derived columns computed from the raw row: ``values(X) -> (B, m)``, ``jac(X) -> (B, m, d)``."""

    size: int = 0

    def values(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def jac(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class ProductBlock(DerivedBlock):
    """Columns ``(a_k x[i_k] + b_k) * (c_k x[j_k] + e_k)``: products of two affine input features."""

    def __init__(self, pairs: list[tuple[tuple[int, float, float], tuple[int, float, float]]]):
        self.size = len(pairs)
        self.i = np.array([p[0][0] for p in pairs], dtype=int)
        self.a = np.array([p[0][1] for p in pairs])
        self.b = np.array([p[0][2] for p in pairs])
        self.j = np.array([p[1][0] for p in pairs], dtype=int)
        self.c = np.array([p[1][1] for p in pairs])
        self.e = np.array([p[1][2] for p in pairs])

    def values(self, x):
        return (self.a * x[:, self.i] + self.b) * (self.c * x[:, self.j] + self.e)

    def jac(self, x):
        rows, d = x.shape
        out = np.zeros((rows, self.size, d))
        k = np.arange(self.size)
        np.add.at(out, (slice(None), k, self.i), self.a * (self.c * x[:, self.j] + self.e))
        np.add.at(out, (slice(None), k, self.j), self.c * (self.a * x[:, self.i] + self.b))
        return out


class FunctionBlock(DerivedBlock):
    """Columns from a Python function of the raw features it reads: ``fn(X[:, cols]) -> (vals, jac)``.

    ``fn`` takes a (B, len(cols)) array and returns values (B, m) and their Jacobian (B, m, len(cols)).
    ``validate``, when given, is called on ``X[:, cols]`` before anything is computed (to reject bad data).
    """

    def __init__(self, size: int, cols: np.ndarray, fn, validate=None):
        self.size = int(size)
        self.cols = np.asarray(cols, dtype=int)
        self.fn = fn
        self.validate = validate

    def values(self, x):
        sub = x[:, self.cols]
        if self.validate is not None:
            self.validate(sub)
        return self.fn(sub)[0]

    def jac(self, x):
        _, j = self.fn(x[:, self.cols])
        out = np.zeros((x.shape[0], self.size, x.shape[1]))
        out[:, :, self.cols] = j
        return out


class DerivedInputs:
    """The derived columns of one traced circuit, in the order their input slots were created."""

    def __init__(self, n_raw: int):
        self.n_raw = int(n_raw)
        self.blocks: list[DerivedBlock] = []

    @property
    def n_derived(self) -> int:
        return sum(b.size for b in self.blocks)

    def expand(self, x: np.ndarray) -> np.ndarray:
        """(B, n_raw) -> (B, n_raw + n_derived)."""
        if x.shape[1] != self.n_raw:
            raise ValueError(f"inputs have {x.shape[1]} features per row, the circuit takes {self.n_raw}")
        cols = [x] + [b.values(x) for b in self.blocks]
        return np.ascontiguousarray(np.concatenate(cols, axis=1))

    def pullback(self, x_ext: np.ndarray, d_ext: np.ndarray) -> np.ndarray:
        """Gradients w.r.t. the expanded row (B, ..., n_raw + m) -> w.r.t. the raw row (B, ..., n_raw)."""
        x = x_ext[:, : self.n_raw]
        rows = d_ext.shape[0]
        mid = d_ext.shape[1:-1]
        d = d_ext.reshape(rows, -1, d_ext.shape[-1])
        out = d[:, :, : self.n_raw].copy()
        off = self.n_raw
        for b in self.blocks:
            out += np.einsum("bok,bkd->bod", d[:, :, off:off + b.size], b.jac(x))
            off += b.size
        return out.reshape((rows,) + mid + (self.n_raw,))


def _circuit_for_derived():
    from .recording import active_recorder

    rec = active_recorder()
    if rec is None or not hasattr(rec, "new_inputs"):
        raise TypeError("a template on traced inputs must be called inside a pq.qnode or a `with Circuit` block")
    return rec


def add_block(block: DerivedBlock) -> np.ndarray:
    """Register a derived block on the circuit being traced; returns its symbolic input slots."""
    c = _circuit_for_derived()
    dmap = getattr(c, "derived_inputs", None)
    if dmap is None:
        dmap = DerivedInputs(c.n_inputs)
        c.derived_inputs = dmap
    elif c.n_inputs != dmap.n_raw + dmap.n_derived:
        raise ValueError("raw inputs must all be created before derived input features")
    dmap.blocks.append(block)
    return c.new_inputs(block.size)


def _affine_of_input(p) -> tuple[int, float, float] | float:
    """(index, scale, offset) of an input Param, or the number itself."""
    if isinstance(p, Param):
        if p.kind == INPUT:
            return (p.index, p.scale, p.offset)
        if p.kind == WEIGHT:
            raise TypeError("products of a trainable weight with another parameter are not supported; "
                            "only input features may be multiplied")
        return float(p.offset) if p.kind == CONST else p  # pragma: no cover
    return float(p)


def is_traced(values) -> bool:
    """Whether an array (or scalar) holds traced parameters."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype != object:
        return False
    return any(isinstance(v, Param) for v in arr.ravel())


def products(pairs) -> list:
    """``[p * q for p, q in pairs]`` for affine traced inputs or numbers: derived columns where needed.

    Pairs of two numbers give numbers; a number times a traced input stays affine; two traced inputs give a
    derived product column. All derived products of one call share one block (one vectorised evaluation).
    """
    out: list = [None] * len(pairs)
    todo, where = [], []
    for k, (p, q) in enumerate(pairs):
        ap, aq = _affine_of_input(p), _affine_of_input(q)
        if isinstance(ap, float) and isinstance(aq, float):
            out[k] = ap * aq
        elif isinstance(ap, float):
            out[k] = q * ap
        elif isinstance(aq, float):
            out[k] = p * aq
        else:
            todo.append((ap, aq))
            where.append(k)
    if todo:
        slots = add_block(ProductBlock(todo))
        for k, s in zip(where, slots):
            out[k] = s
    return out
