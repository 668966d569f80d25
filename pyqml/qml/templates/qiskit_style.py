"""Qiskit-style feature maps and ansatzes (ZZFeatureMap, RealAmplitudes, EfficientSU2) and a hardware-
efficient ansatz."""
from __future__ import annotations

import math

import numpy as np

from ...frontend import ops
from ...frontend.derived_inputs import products
from ._common import _check_shape, _gate, _values, _wire_list, entangler_pairs


def ZZFeatureMap(features, wires, reps: int = 2, entanglement="full", alpha: float = 2.0) -> None:
    """Qiskit's second-order Pauli-Z feature map (Havlicek et al. 2019). Per repetition: H on every wire,
    ``P(alpha * x_i)`` on wire i, then for each entangling pair (i, j): ``CNOT(i, j)``,
    ``P(alpha * (pi - x_i)(pi - x_j))`` on j, ``CNOT(i, j)``. Products are derived input columns."""
    ws = _wire_list(wires)
    n = len(ws)
    f = _values(features, "features")
    if f.ndim != 1 or f.shape[0] != n:
        raise ValueError(f"ZZFeatureMap: features must be of length {n}; got shape {f.shape}")
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"ZZFeatureMap: reps must be a positive integer, got {reps!r}")
    pairs = entangler_pairs(n, entanglement)
    prods = products([(math.pi - f[i], math.pi - f[j]) for i, j in pairs])
    for _ in range(int(reps)):
        for i in range(n):
            ops.Hadamard(wires=ws[i])
        for i in range(n):
            ops.PhaseShift(alpha * f[i], wires=ws[i])
        for (i, j), pr in zip(pairs, prods):
            ops.CNOT(wires=[ws[i], ws[j]])
            ops.PhaseShift(alpha * pr, wires=ws[j])
            ops.CNOT(wires=[ws[i], ws[j]])


def _nlocal(weights, wires, reps, entanglement, gates, name, skip_final) -> None:
    ws = _wire_list(wires)
    n = len(ws)
    if not isinstance(reps, (int, np.integer)) or reps < 0:
        raise ValueError(f"{name}: reps must be a non-negative integer, got {reps!r}")
    n_blocks = reps + (0 if skip_final else 1)
    size = n_blocks * len(gates) * n
    w = _values(weights, "weights")
    if w.size != size or w.ndim > 2:
        raise ValueError(f"{name}: weights must hold {size} values ({n_blocks} rotation layers x "
                         f"{len(gates)} gates x {n} wires), got shape {w.shape}")
    w = w.reshape(n_blocks, len(gates) * n)
    pairs = entangler_pairs(n, entanglement)
    for layer in range(n_blocks):
        for g, gate in enumerate(gates):
            for i in range(n):
                gate(w[layer, g * n + i], wires=ws[i])
        if layer < reps:
            for a, b in pairs:
                ops.CNOT(wires=[ws[a], ws[b]])


def RealAmplitudes(weights, wires, reps: int = 3, entanglement="reverse_linear",
                   skip_final_rotation_layer: bool = False) -> None:
    """Qiskit's RealAmplitudes: RY layers separated by CNOT entanglers. weights: ((reps + 1) * n,) in
    Qiskit's parameter order (layer by layer), or the same values shaped (reps + 1, n)."""
    _nlocal(weights, wires, reps, entanglement, [ops.RY], "RealAmplitudes", skip_final_rotation_layer)


RealAmplitudes.shape = lambda n_wires, reps=3: ((int(reps) + 1) * int(n_wires),)


def EfficientSU2(weights, wires, reps: int = 3, entanglement="reverse_linear", su2_gates=("RY", "RZ"),
                 skip_final_rotation_layer: bool = False) -> None:
    """Qiskit's EfficientSU2: layers of ``su2_gates`` (default RY then RZ) on every wire separated by CNOT
    entanglers. weights: ((reps + 1) * len(su2_gates) * n,) in Qiskit's parameter order."""
    gates = [_gate(g, None) for g in su2_gates]
    _nlocal(weights, wires, reps, entanglement, gates, "EfficientSU2", skip_final_rotation_layer)


EfficientSU2.shape = lambda n_wires, reps=3, n_gates=2: ((int(reps) + 1) * int(n_gates) * int(n_wires),)


def HardwareEfficientAnsatz(weights, wires, rotations=("RY", "RZ"), entanglement="linear",
                            imprimitive=None) -> None:
    """Hardware-efficient ansatz (Kandala et al. 2017): per layer, the single-qubit ``rotations`` on every
    wire, then ``imprimitive`` (default CNOT) on the pairs of ``entanglement``. weights: (L, n, len(rotations))."""
    ws = _wire_list(wires)
    n = len(ws)
    rots = [_gate(r, None) for r in rotations]
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"HardwareEfficientAnsatz: weights must be 3-dimensional (L, {n}, {len(rots)}), "
                         f"got shape {w.shape}")
    _check_shape(w, (w.shape[0], n, len(rots)), "HardwareEfficientAnsatz")
    imp = _gate(imprimitive, ops.CNOT)
    pairs = entangler_pairs(n, entanglement)
    for layer in range(w.shape[0]):
        for i in range(n):
            for g, rot in enumerate(rots):
                rot(w[layer, i, g], wires=ws[i])
        for a, b in pairs:
            imp(wires=[ws[a], ws[b]])


HardwareEfficientAnsatz.shape = lambda n_layers, n_wires, n_rotations=2: (int(n_layers), int(n_wires), int(n_rotations))
