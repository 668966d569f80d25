"""Argument helpers shared by the templates: wire lists, numeric or traced values, shape checks, gate
lookup and Qiskit's entanglement patterns."""
from __future__ import annotations

import itertools

import numpy as np

from ...frontend import ops
from ...frontend.derived_inputs import is_traced
from ...frontend.params import Param


def _wire_list(wires) -> list[int]:
    if isinstance(wires, (int, np.integer)):
        return [int(wires)]
    ws = [int(w) for w in wires]
    if len(set(ws)) != len(ws):
        raise ValueError(f"wires {ws} are repeated")
    if not ws:
        raise ValueError("a template needs at least one wire")
    return ws


def _values(x, name: str) -> np.ndarray:
    """A numeric float array or a traced object array; NaN/inf rejected."""
    if isinstance(x, Param):
        return np.array([x], dtype=object).reshape(())
    if isinstance(x, np.ndarray) and x.dtype == object:
        if is_traced(x):
            return x
        x = x.astype(float)
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        arr = np.asarray(x, dtype=object)
        if not is_traced(arr):
            raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None
        return arr
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_shape(arr: np.ndarray, expected: tuple, template: str, name: str = "weights") -> None:
    if tuple(arr.shape) != tuple(expected):
        raise ValueError(f"{template}: {name} must have shape {tuple(expected)}, got {tuple(arr.shape)}")


def _gate(g, default):
    """A gate class given as a class or by name ('CNOT', 'RX', 'X' ...)."""
    if g is None:
        g = default
    if isinstance(g, str):
        key = {"X": "RX", "Y": "RY", "Z": "RZ"}.get(g, g)
        if key not in ops.GATES:
            raise ValueError(f"unknown gate {g!r}")
        return ops.GATES[key]
    if isinstance(g, type) and issubclass(g, ops.Operation):
        return g
    raise TypeError(f"expected a gate class or name, got {g!r}")


def entangler_pairs(n: int, entanglement="full") -> list[tuple[int, int]]:
    """Qubit pairs (positions 0..n-1) of an entangling layer, with Qiskit's names.

    ``"full"``: every pair i < j in order; ``"linear"``: (0,1), (1,2), ...; ``"reverse_linear"``: (n-2,n-1),
    ..., (0,1); ``"circular"``: (n-1, 0) then linear; ``"ring"``: linear then (n-1, 0); or an explicit list.
    """
    if not isinstance(entanglement, str):
        pairs = [tuple(int(a) for a in p) for p in entanglement]
        for p in pairs:
            if len(p) != 2 or p[0] == p[1] or not all(0 <= a < n for a in p):
                raise ValueError(f"invalid entangling pair {p} for {n} wires")
        return pairs
    linear = [(i, i + 1) for i in range(n - 1)]
    if entanglement == "full":
        return list(itertools.combinations(range(n), 2))
    if entanglement == "linear":
        return linear
    if entanglement == "reverse_linear":
        return linear[::-1]
    if entanglement == "circular":
        return ([(n - 1, 0)] if n > 2 else []) + linear
    if entanglement == "ring":
        return linear + ([(n - 1, 0)] if n > 2 else [])
    raise ValueError(f"entanglement must be 'full', 'linear', 'reverse_linear', 'circular', 'ring' or a list "
                     f"of pairs, got {entanglement!r}")
