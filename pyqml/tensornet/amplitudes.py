"""Amplitudes ``<b|U|0>`` by contracting the ket half of a circuit's network, closed by basis vectors::

    |0>--[U1]--[U3]--<b_0|
    |0>--[U2]--[U3]--<b_1|

No light cone applies (nothing cancels), so every gate enters; a shallow wide circuit still contracts in
small tensors. The network is built by the engine (``cpp/src/tensornet/network.cpp``, the builder of the
expectation networks). Its labels do not depend on the bit string, so the contraction path is searched once
per circuit structure and shared by every bit string; plans are cached under the structure and the bits.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _core
from ..frontend.cache import PlanCache
from .network import contraction_steps

ONE = 5

# Bounded (LRU, a share of the memory limit); emptied by pq.clear_caches().
_AMP_CACHE = PlanCache("amplitude plans")
_STEPS_CACHE = PlanCache("amplitude paths")


def amplitude_network(n_wires: int, ops: Sequence, bits: Sequence[int]) -> tuple[list, list]:
    """Leaves ``[(kind, gate, letter, labels)]`` and gates ``[(name, n_wires)]`` of ``<b|U|0>``."""
    leaves, gates = _core.tn_amplitude_network(n_wires, [(op.name, [int(w) for w in op.wires]) for op in ops],
                                               [int(b) for b in bits])
    return [tuple(lf) for lf in leaves], [tuple(g) for g in gates]


def _check_bits(circuit, bits) -> list[int]:
    b = [int(v) for v in bits]
    if len(b) != circuit.n_wires or any(v not in (0, 1) for v in b):
        raise ValueError(f"bits must be {circuit.n_wires} values of 0 or 1, got {list(bits)!r}")
    return b


def _plan(circuit, b: list[int], optimize: str):
    structure = (circuit.n_wires, tuple((op.name, tuple(op.wires)) for op in circuit.ops), optimize)
    key = structure + (tuple(b),)
    entry = _AMP_CACHE.get(key)
    if entry is None:
        leaves, gates = amplitude_network(circuit.n_wires, circuit.ops, b)
        steps = _STEPS_CACHE.get(structure)
        if steps is None:
            steps = contraction_steps([lf[3] for lf in leaves], optimize)
            _STEPS_CACHE.put(structure, steps, 64.0 * sum(len(k) + 3 for _, _, k in steps))
        plan = _core.ContractionPlan(gates, leaves, steps)
        entry = (plan, leaves, steps)
        _AMP_CACHE.put(key, entry, plan.table_bytes + 96.0 * (len(leaves) + len(steps)) + 8.0 * len(key[1]))
    return entry[0]


def amplitude_plan(circuit, bits, optimize: str = "auto"):
    """The compiled plan of ``<bits|U|0>`` (cached under the circuit's structure and the bits)."""
    return _plan(circuit, _check_bits(circuit, bits), optimize)


def amplitude_rows(circuit, bits, weights, inputs, precision: str = "complex128", optimize: str = "auto"):
    """(rows,) amplitudes ``<bits|U|0>`` for validated flat weights and input rows."""
    return _core.tn_amplitudes(circuit.core, amplitude_plan(circuit, bits, optimize), weights, inputs, precision)


def amplitude(circuit, bits, weights=None, inputs=None, precision: str = "complex128",
              optimize: str = "auto") -> np.ndarray:
    """``<b|U|0>`` for the basis state ``bits`` (wire 0 first) by tensor-network contraction.

    Returns a complex scalar, or one value per row when ``inputs`` (or ``weights``) is 2-D.
    """
    from ..frontend.measurements import _inputs_for, _weights_for

    b = _check_bits(circuit, bits)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    out = _core.tn_amplitudes(circuit.core, _plan(circuit, b, optimize), w, x, precision)
    return out if (batched or np.ndim(w) == 2) else out[0]


def amplitudes(circuit, bitstrings, weights=None, inputs=None, precision: str = "complex128",
               optimize: str = "auto") -> np.ndarray:
    """``<b|U|0>`` for several basis states ``bitstrings`` (each wire 0 first) in one call.

    The bit strings share one contraction path (searched once); each is contracted for every row. Returns
    shape ``(len(bitstrings),)``, or ``(rows, len(bitstrings))`` when ``inputs`` (or ``weights``) is 2-D.
    """
    from ..frontend.measurements import _inputs_for, _weights_for

    bs = [_check_bits(circuit, b) for b in bitstrings]
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    cols = [_core.tn_amplitudes(circuit.core, _plan(circuit, b, optimize), w, x, precision) for b in bs]
    rows = cols[0].shape[0] if cols else (np.shape(x)[0] if x is not None and np.ndim(x) == 2 else 1)
    out = np.stack(cols, axis=1) if cols else np.zeros((rows, 0), dtype=complex)
    return out if (batched or np.ndim(w) == 2) else out[0]
