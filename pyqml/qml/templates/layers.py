"""Trainable layers (PennyLane's definitions, weight shapes and ``shape`` helpers)."""
from __future__ import annotations

import numpy as np

from ...frontend import ops
from ._common import _check_shape, _gate, _values, _wire_list


def StronglyEntanglingLayers(weights, wires, ranges=None, imprimitive=None) -> None:
    """Layers of ``Rot(*weights[l, i])`` on every wire followed by ``imprimitive(i, (i + r_l) mod n)``
    (Schuld et al. 2020). weights: (L, n, 3); default ranges ``r_l = l mod (n - 1) + 1``."""
    ws = _wire_list(wires)
    n = len(ws)
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"StronglyEntanglingLayers: weights must be 3-dimensional (L, {n}, 3), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n, 3), "StronglyEntanglingLayers")
    L = w.shape[0]
    if ranges is None:
        ranges = [(l % (n - 1)) + 1 for l in range(L)] if n > 1 else [0] * L
    else:
        ranges = [int(r) for r in ranges]
        if len(ranges) != L:
            raise ValueError(f"StronglyEntanglingLayers: ranges must have length {L}, got {len(ranges)}")
        if n > 1:
            for r in ranges:
                if r % n == 0:
                    raise ValueError(f"StronglyEntanglingLayers: ranges must not be zero nor divisible by the "
                                     f"number of wires; got {r}")
    imp = _gate(imprimitive, ops.CNOT)
    for layer in range(L):
        for i in range(n):
            ops.Rot(w[layer, i, 0], w[layer, i, 1], w[layer, i, 2], wires=ws[i])
        if n > 1:
            for i in range(n):
                imp(wires=[ws[i], ws[(i + ranges[layer]) % n]])


StronglyEntanglingLayers.shape = lambda n_layers, n_wires: (int(n_layers), int(n_wires), 3)


def BasicEntanglerLayers(weights, wires, rotation=None) -> None:
    """Layers of one-parameter rotations (default RX) on every wire and a ring of CNOTs (a single CNOT on
    two wires, none on one). weights: (L, n)."""
    ws = _wire_list(wires)
    n = len(ws)
    w = _values(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"BasicEntanglerLayers: weights must be 2-dimensional (L, {n}), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n), "BasicEntanglerLayers")
    rot = _gate(rotation, ops.RX)
    if rot.num_params != 1:
        raise ValueError(f"BasicEntanglerLayers: rotation must take one parameter, {rot.name} takes {rot.num_params}")
    for layer in range(w.shape[0]):
        for i in range(n):
            rot(w[layer, i], wires=ws[i])
        if n == 2:
            ops.CNOT(wires=ws)
        elif n > 2:
            for i in range(n):
                ops.CNOT(wires=[ws[i], ws[(i + 1) % n]])


BasicEntanglerLayers.shape = lambda n_layers, n_wires: (int(n_layers), int(n_wires))


def SimplifiedTwoDesign(initial_layer_weights, weights, wires) -> None:
    """RY on every wire, then layers of CZ + two RY on even pairs and on odd pairs (Cerezo et al. 2021).
    Shapes: ``SimplifiedTwoDesign.shape(n_layers, n_wires)`` = [(n,), (L, n - 1, 2)]."""
    ws = _wire_list(wires)
    n = len(ws)
    w0 = _values(initial_layer_weights, "initial_layer_weights")
    _check_shape(w0, (n,), "SimplifiedTwoDesign", "initial_layer_weights")
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"SimplifiedTwoDesign: weights must be 3-dimensional (L, {n - 1}, 2), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n - 1, 2), "SimplifiedTwoDesign")
    for i in range(n):
        ops.RY(w0[i], wires=ws[i])
    even = [(i, i + 1) for i in range(0, n - 1, 2)]
    odd = [(i, i + 1) for i in range(1, n - 1, 2)]
    for layer in range(w.shape[0]):
        for k, (a, b) in enumerate(even):
            ops.CZ(wires=[ws[a], ws[b]])
            ops.RY(w[layer, k, 0], wires=ws[a])
            ops.RY(w[layer, k, 1], wires=ws[b])
        for k, (a, b) in enumerate(odd):
            ops.CZ(wires=[ws[a], ws[b]])
            ops.RY(w[layer, n // 2 + k, 0], wires=ws[a])
            ops.RY(w[layer, n // 2 + k, 1], wires=ws[b])


SimplifiedTwoDesign.shape = lambda n_layers, n_wires: [(int(n_wires),), (int(n_layers), int(n_wires) - 1, 2)]


def RandomLayers(weights, wires, ratio_imprim: float = 0.3, imprimitive=None, rotations=None,
                 seed: int | None = 42) -> None:
    """Random rotations (from ``rotations``, default RX/RY/RZ) on random wires, interleaved with random
    two-wire ``imprimitive`` gates, drawn from ``numpy.random.default_rng(seed)`` exactly as PennyLane
    draws them, so a given seed builds the same circuit. weights: (L, n_rotations)."""
    ws = _wire_list(wires)
    w = _values(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"RandomLayers: weights must be 2-dimensional, got shape {w.shape}")
    if not 0.0 <= float(ratio_imprim) < 1.0:
        raise ValueError(f"RandomLayers: ratio_imprim must be in [0, 1) (at 1 no rotation is ever drawn), got "
                         f"{ratio_imprim}")
    imp = _gate(imprimitive, ops.CNOT)
    rots = [ops.RX, ops.RY, ops.RZ] if not rotations else [_gate(r, None) for r in rotations]
    rng = np.random.default_rng(seed)
    n = len(ws)
    for layer in range(w.shape[0]):
        i = 0
        while i < w.shape[1]:
            if rng.random() > ratio_imprim:
                gate = rots[int(rng.choice(len(rots)))]
                wire = ws[int(rng.choice(n, size=1, replace=False)[0])]
                gate(w[layer, i], wires=wire)
                i += 1
            elif n > 1:
                pair = rng.choice(n, size=2, replace=False)
                imp(wires=[ws[int(pair[0])], ws[int(pair[1])]])


RandomLayers.shape = lambda n_layers, n_rotations: (int(n_layers), int(n_rotations))
