"""Reverse light cones of hand-made circuits, gate by gate, and structure sharing between terms."""
from __future__ import annotations

import numpy as np
from random_circuits import ry_cz_brickwork

import pyqml as pq


def _cone_of(c, word):
    ex = c.executor([word], "tensornet")
    (ops, wires, letters, _), = ex._tn.cones()
    return ops


def test_support_cone_on_a_chain():
    c = pq.Circuit(5)
    with c:
        pq.H(wires=0)           # 0
        pq.CNOT(wires=[0, 1])   # 1
        pq.CNOT(wires=[1, 2])   # 2
        pq.RX(0.3, wires=4)     # 3
        pq.CNOT(wires=[3, 4])   # 4
        pq.RY(0.2, wires=2)     # 5
    assert _cone_of(c, pq.Z(2)) == [0, 1, 2, 5]
    # X on a control wire does not commute with the CNOT it controls.
    assert _cone_of(c, pq.X(1)) == [0, 1, 2]
    # Z on a control wire commutes with the CNOT: nothing is left.
    assert _cone_of(c, pq.Z(3)) == []
    assert _cone_of(c, pq.X(3)) == [3, 4]
    assert _cone_of(c, pq.Z(4)) == [3, 4]
    assert _cone_of(c, pq.Z(0) @ pq.Z(4)) == [0, 3, 4]


def test_gate_after_the_observable_wire_is_dropped():
    c = pq.Circuit(3)
    with c:
        pq.RY(0.1, wires=0)     # 0
        pq.CNOT(wires=[0, 1])   # 1
        pq.CNOT(wires=[1, 2])   # 2: only wire 2's future, outside the cone of Z(0)
        pq.RX(0.4, wires=0)     # 3
    assert _cone_of(c, pq.Z(0)) == [0, 1, 3]
    assert _cone_of(c, pq.Z(2)) == [0, 1, 2]


def test_diagonal_gates_do_not_chain_the_cone():
    """One QAOA cost layer: the ZZ gates on (1,2), (2,3) commute with ZZ(0,1), so the cone of Z0 Z1 after
    the mixer holds only the ZZ gates touching wire 0 or 1, and the H gates of their wires."""
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6)]
    c = pq.Circuit(7)
    with c:
        for i in range(7):
            pq.H(wires=i)                      # ops 0..6
        for a, b in edges:
            pq.IsingZZ(0.7, wires=[a, b])      # ops 7..12
        for i in range(7):
            pq.RX(0.3, wires=i)                # ops 13..19
    # ZZ(0,1)=7, ZZ(1,2)=8, ZZ(0,5)=11 touch wires 0/1; ZZ(2,3)=9, ZZ(5,6)=12 commute through and drop.
    assert _cone_of(c, pq.Z(0) @ pq.Z(1)) == [0, 1, 2, 5, 7, 8, 11, 13, 14]
    # A Z observable with no mixer after it: diagonal gates commute with it, the cone is empty of ZZ.
    c2 = pq.Circuit(3)
    with c2:
        pq.H(wires=0)             # 0
        pq.CZ(wires=[0, 1])       # 1 commutes with Z(0)
        pq.RZ(0.3, wires=0)       # 2 commutes with Z(0)
        pq.CRX(0.2, wires=[0, 2])  # 3 control on wire 0: diagonal there
    assert _cone_of(c2, pq.Z(0)) == [0]
    # An X on the wire makes it non-diagonal: everything touching wire 0 enters.
    assert _cone_of(c2, pq.X(0)) == [0, 1, 2, 3]


def test_value_with_commuting_cone_matches_statevector():
    rng = np.random.default_rng(3)
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (1, 3)]
    c = pq.Circuit(5)
    w = c.new_weights(4)
    with c:
        for i in range(5):
            pq.H(wires=i)
        for layer in range(2):
            for a, b in edges:
                pq.IsingZZ(w[2 * layer], wires=[a, b])
            for i in range(5):
                pq.RX(w[2 * layer + 1], wires=i)
    obs = [pq.Z(a) @ pq.Z(b) for a, b in edges]
    W = rng.uniform(-2, 2, 4)
    v1, d1, _ = c.executor(obs, "tensornet").jacobian(W)
    v2, d2, _ = c.executor(obs, "statevector").jacobian(W)
    np.testing.assert_allclose(v1, v2, atol=1e-10, rtol=0)
    np.testing.assert_allclose(d1, d2, atol=1e-10, rtol=0)


def test_translation_invariant_terms_share_plans():
    n, layers = 60, 2
    c = ry_cz_brickwork(n, layers)
    obs = [sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), pq.Observable())]
    p = pq.plan(c, obs)
    assert p.n_terms == n - 1
    # Bulk terms come in two parities; the rest are boundary terms near either end.
    assert p.n_structures <= 12
    assert max(p.counts) >= (n - 1 - 12) // 2
