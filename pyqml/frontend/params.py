"""Symbolic gate parameters used while a circuit is traced.

A traced function receives symbolic arrays instead of numbers: every element is a :class:`Param`, an affine
function ``scale * source[index] + offset`` of one input feature or one trainable weight. Gates record these
references, so the structure of the circuit is compiled once and new numbers are bound on every call.
"""
from __future__ import annotations

import numbers

import numpy as np

CONST, WEIGHT, INPUT = 0, 1, 2
_KIND_NAMES = {WEIGHT: "weights", INPUT: "inputs"}


class Param:
    """``scale * source[index] + offset`` where source is the weight vector or the input row."""

    __slots__ = ("kind", "index", "scale", "offset")
    __array_priority__ = 1000

    def __init__(self, kind: int, index: int, scale: float = 1.0, offset: float = 0.0):
        self.kind = kind
        self.index = index
        self.scale = float(scale)
        self.offset = float(offset)

    def _affine(self, scale: float, offset: float) -> Param:
        return Param(self.kind, self.index, self.scale * scale, self.offset * scale + offset)

    def __mul__(self, other):
        if isinstance(other, numbers.Real):
            return self._affine(float(other), 0.0)
        return _not_affine("*", other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, numbers.Real):
            return self._affine(1.0 / float(other), 0.0)
        return _not_affine("/", other)

    def __add__(self, other):
        if isinstance(other, numbers.Real):
            return self._affine(1.0, float(other))
        return _not_affine("+", other)

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, numbers.Real):
            return self._affine(1.0, -float(other))
        return _not_affine("-", other)

    def __rsub__(self, other):
        if isinstance(other, numbers.Real):
            return self._affine(-1.0, float(other))
        return _not_affine("-", other)

    def __neg__(self):
        return self._affine(-1.0, 0.0)

    def __pos__(self):
        return self

    def __float__(self):
        raise TypeError(
            f"{self!r} is a traced parameter, not a number: pyqml traces the circuit once and binds "
            "numbers later, so gate angles may only be affine functions (a * x + b) of one input or weight"
        )

    def __repr__(self) -> str:
        src = f"{_KIND_NAMES.get(self.kind, 'const')}[{self.index}]"
        s = src if self.scale == 1.0 else f"{self.scale:g}*{src}"
        return s if self.offset == 0.0 else f"{s}{self.offset:+g}"


def _not_affine(op: str, other) -> None:
    raise TypeError(
        f"cannot trace '{op}' between a traced parameter and {type(other).__name__}: gate angles may only "
        "be affine functions (a * x + b) of one input feature or weight"
    )


def symbolic_array(kind: int, shape: tuple[int, ...], start: int = 0) -> np.ndarray:
    """An object array of :class:`Param` of the given shape, indices ``start ...`` in C order."""
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.empty(size, dtype=object)
    for i in range(size):
        flat[i] = Param(kind, start + i)
    return flat.reshape(shape)


def param_ref(value) -> tuple[int, int, float, float]:
    """The engine's (kind, index, scale, offset) for a gate parameter: a Param or a real number."""
    if isinstance(value, Param):
        return (value.kind, value.index, value.scale, value.offset)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, Param):
        return (value.kind, value.index, value.scale, value.offset)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"gate parameter must be a real number or a traced parameter, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"gate parameter is {v}: angles must be finite")
    return (CONST, 0, 1.0, v)
