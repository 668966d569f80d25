"""Amplitudes ``<b|U|0>`` by contracting the ket half of a circuit's network, closed by basis vectors::

    |0>--[U1]--[U3]--<b_0|
    |0>--[U2]--[U3]--<b_1|

No light cone applies (nothing cancels), so every gate enters; a shallow wide circuit still contracts in
small tensors. Plans are cached under the circuit's structure and the bit string.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _core
from .network import KET_GATE, ZERO, contraction_steps

ONE = 5

_AMP_CACHE: dict[tuple, tuple] = {}


def _diag_flags(name: str, k: int) -> list[bool]:
    return [bool(_core.tn_diagonal_on_wire(name, j)) for j in range(k)]


def amplitude_network(n_wires: int, ops: Sequence, bits: Sequence[int]) -> tuple[list, list]:
    """Leaves ``[(kind, gate, letter, labels)]`` and gates ``[(name, n_wires)]`` of ``<b|U|0>``."""
    label = iter(range(10**9))
    ket = [next(label) for _ in range(n_wires)]
    leaves: list = [(ZERO, -1, "", [ket[w]]) for w in range(n_wires)]
    gates = []
    for j, op in enumerate(ops):
        labels = []
        for w, d in zip(op.wires, _diag_flags(op.name, len(op.wires))):
            if d:
                labels.append(ket[w])
            else:
                o = next(label)
                labels += [o, ket[w]]
                ket[w] = o
        leaves.append((KET_GATE, j, "", labels))
        gates.append((op.name, len(op.wires)))
    leaves += [(ONE if b else ZERO, -1, "", [ket[w]]) for w, b in enumerate(bits)]
    return leaves, gates


def amplitude_plan(circuit, bits, optimize: str = "auto") -> tuple:
    """(compiled plan, leaves, steps) of ``<bits|U|0>``, cached under the circuit's structure and the bits."""
    b = tuple(int(v) for v in bits)
    key = (circuit.n_wires, tuple((op.name, op.wires) for op in circuit.ops), b, optimize)
    entry = _AMP_CACHE.get(key)
    if entry is None:
        leaves, gates = amplitude_network(circuit.n_wires, circuit.ops, b)
        steps = contraction_steps([lf[3] for lf in leaves], optimize)
        entry = (_core.ContractionPlan(gates, leaves, steps), leaves, steps)
        _AMP_CACHE[key] = entry
    return entry


def _check_bits(circuit, bits) -> list[int]:
    b = [int(v) for v in bits]
    if len(b) != circuit.n_wires or any(v not in (0, 1) for v in b):
        raise ValueError(f"bits must be {circuit.n_wires} values of 0 or 1, got {list(bits)!r}")
    return b


def amplitude_rows(circuit, bits, weights, inputs, precision: str = "complex128", optimize: str = "auto"):
    """(rows,) amplitudes ``<bits|U|0>`` for validated flat weights and input rows."""
    entry = amplitude_plan(circuit, _check_bits(circuit, bits), optimize)
    return _core.tn_amplitudes(circuit.core, entry[0], weights, inputs, precision)


def amplitude(circuit, bits, weights=None, inputs=None, precision: str = "complex128",
              optimize: str = "auto") -> np.ndarray:
    """``<b|U|0>`` for the basis state ``bits`` (wire 0 first) by tensor-network contraction.

    Returns a complex scalar, or one value per row when ``inputs`` (or ``weights``) is 2-D.
    """
    from ..frontend.measurements import _inputs_for, _weights_for

    _check_bits(circuit, bits)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    out = amplitude_rows(circuit, bits, w, x, precision, optimize)
    return out if (batched or np.ndim(w) == 2) else out[0]
