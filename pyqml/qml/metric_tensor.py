"""The block-diagonal Fubini-Study metric tensor of a qnode's state (Stokes et al., Quantum 4, 269 (2020)),
what the quantum natural gradient (:class:`pyqml.QNGOptimizer`) preconditions with. Gate generators come from
the engine's gate table."""
from __future__ import annotations

import numpy as np

from ..frontend.qnode import QNode

__all__ = ["metric_tensor"]

_GENERATORS: dict | None = None


def _generator_table() -> dict:
    """Gate name -> per parameter [(coeff, letters)], from the engine's gate table (read once)."""
    global _GENERATORS
    if _GENERATORS is None:
        from .. import _core

        _GENERATORS = {g["name"]: [[(float(c), str(p)) for c, p in terms] for terms in g["generators"]]
                       for g in _core.gate_table() if g["generators"]}
    return _GENERATORS


def _generators(op):
    """Pauli generators G (U = exp(-i theta G), up to identity terms) of each parameter of an op, in order,
    as a list of [(coeff, {wire: letter})], read from the gate table (``_core.gate_table()["generators"]``).
    Rot and U3 are split into RZ RY RZ first (:func:`_expand_for_metric`)."""
    gens = _generator_table().get(op.name)
    if gens is None:
        raise ValueError(f"the metric tensor does not support {op.name}")
    w = list(op.wires)
    out = []
    for terms in gens:
        words = []
        for c, letters in terms:
            # One letter per wire, or (variable-width gates such as MultiRZ) one letter for every wire.
            ls = letters * len(w) if len(letters) == 1 else letters
            words.append((c, {x: p for x, p in zip(w, ls) if p != "I"}))
        out.append(words)
    return out


def _expand_for_metric(circuit):
    """Ops with Rot/U3 split into RZ, RY, RZ (same parameter references), as Operation objects."""
    from ..frontend import ops as gates

    out = []
    for op in circuit.ops:
        if op.name == "Rot":  # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
            phi, theta, omega = op.params
            out += [gates.RZ(phi, wires=op.wires), gates.RY(theta, wires=op.wires), gates.RZ(omega, wires=op.wires)]
        elif op.name == "U3":  # U3(theta, phi, delta) = RZ(phi) RY(theta) RZ(delta) up to a phase
            theta, phi, delta = op.params
            out += [gates.RZ(delta, wires=op.wires), gates.RY(theta, wires=op.wires), gates.RZ(phi, wires=op.wires)]
        else:
            out.append(op)
    return out


def _apply_word(psi: np.ndarray, word: dict, n: int) -> np.ndarray:
    t = psi.reshape((2,) * n)
    for w, p in word.items():
        if p == "X":
            t = np.flip(t, axis=w)
        elif p == "Y":
            t = np.flip(t, axis=w) * np.array([-1j, 1j]).reshape([2 if a == w else 1 for a in range(n)])
        else:
            t = t * np.array([1, -1]).reshape([2 if a == w else 1 for a in range(n)])
    return t.reshape(-1)


def metric_tensor(qnode: QNode, *args, **kwargs) -> np.ndarray:
    """Block-diagonal Fubini-Study metric tensor of a qnode's state with respect to its (single) weight
    argument (Stokes et al., Quantum 4, 269 (2020)), shape (p, p) for p weights.

    Gates are grouped into layers of parametrised gates that commute back to the layer's first gate (no
    gate in between touches their wires). Within a layer, ``g_ij = <G_i G_j> - <G_i><G_j>`` in the state
    just before the layer (exact entries of the full metric); entries between layers are zero. Gate angles
    ``a * w + b`` contribute ``a_i a_j g_ij`` to their weights.
    """
    from ..frontend.circuit import Circuit
    from ..frontend.params import WEIGHT

    cq, w, x, _ = qnode.flatten(*args, **kwargs)
    circuit = cq.circuit
    x = cq.expand(x)
    if x is not None and x.shape[0] != 1:
        raise ValueError("the metric tensor takes one input row")
    n = circuit.n_wires
    opl = _expand_for_metric(circuit)
    # A layer starts at a trainable gate; a later trainable gate joins it when no gate since the layer's
    # start (trainable or not) touched its wires, so it commutes back to the layer's start.
    layers: list[list[int]] = []  # indices into opl of parametrised gates
    cur: list[int] = []
    touched: set = set()
    for i, op in enumerate(opl):
        trainable = any(getattr(p, "kind", None) == WEIGHT for p in op.params)
        if not trainable:
            if cur:
                touched |= set(op.wires)
            continue
        if set(op.wires) & touched:
            layers.append(cur)
            cur, touched = [], set()
        cur.append(i)
        touched |= set(op.wires)
    if cur:
        layers.append(cur)
    g = np.zeros((circuit.n_weights, circuit.n_weights))
    for layer in layers:
        start = layer[0]
        prefix = Circuit(n, opl[:start], n_weights=circuit.n_weights, n_inputs=circuit.n_inputs)
        psi = prefix.executor([], "statevector").state(w, x)[0] if start else None
        if psi is None:
            psi = np.zeros(2 ** n, dtype=complex)
            psi[0] = 1.0
        phis, refs = [], []
        for i in layer:
            op = opl[i]
            (gen,) = _generators(op)
            phi = sum(c * _apply_word(psi, word, n) for c, word in gen)
            for p in op.params:
                phis.append(phi)
                refs.append(p)
        ev = np.array([np.vdot(psi, f).real for f in phis])
        for a, (fa, pa) in enumerate(zip(phis, refs)):
            for b, (fb, pb) in enumerate(zip(phis, refs)):
                if getattr(pa, "kind", None) != WEIGHT or getattr(pb, "kind", None) != WEIGHT:
                    continue
                gab = np.vdot(fa, fb).real - ev[a] * ev[b]
                g[pa.index, pb.index] += pa.scale * pb.scale * gab
    return g
