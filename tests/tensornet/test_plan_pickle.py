"""Contraction plans pickle (for shipping to worker processes): the round trip contracts to the same
numbers and keeps every size."""
from __future__ import annotations

import pickle

import numpy as np
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core


def _same_plan(a, b):
    assert a.gates == b.gates and a.leaves == b.leaves and a.steps == b.steps
    assert a.width == b.width
    assert a.forward_macs == b.forward_macs and a.backward_macs == b.backward_macs
    assert a.forward_workspace_elements == b.forward_workspace_elements
    assert a.gradient_workspace_elements == b.gradient_workspace_elements
    assert a.table_bytes == b.table_bytes


def test_plans_round_trip_with_exact_values_and_gradients():
    rng = np.random.default_rng(6)
    rc = RandomCircuit(7, 60, rng, n_inputs=2)  # every gate, QubitUnitary included
    c = rc.circuit()
    assert any(op.name == "QubitUnitary" for op in c.ops)
    obs = [random_pauli_sum(7, rng, n_terms=4)[0] for _ in range(2)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, 2))
    ex = c.executor(obs, "tensornet")
    assert any(g[0] == "QubitUnitary" for sp in ex.plans for g in sp.core.gates)
    # A second executor of the same circuit, every structure bound to an unpickled copy of its plan.
    from pyqml.tensornet import TensorNetExecutor

    ex2 = TensorNetExecutor(c, obs)
    assert ex2 is not ex
    for s, sp in enumerate(ex.plans):
        copy = pickle.loads(pickle.dumps(sp.core))
        assert isinstance(copy, _core.ContractionPlan) and copy is not sp.core
        _same_plan(sp.core, copy)
        ex2._tn.set_plan(s, copy)
    np.testing.assert_array_equal(ex2.expval(w, x), ex.expval(w, x))
    for u, v in zip(ex2.jacobian(w, x), ex.jacobian(w, x)):
        np.testing.assert_array_equal(u, v)


def test_structure_and_tensornet_plans_round_trip():
    c = pq.Circuit(5)
    wv = c.new_weights(10)
    with c:
        for i in range(5):
            pq.RY(wv[i], wires=i)
        for i in range(4):
            pq.CNOT(wires=[i, i + 1])
        for i in range(5):
            pq.RX(wv[5 + i], wires=i)
    obs = [pq.Z(0) @ pq.Z(1) + 0.5 * pq.X(3)]
    p = pq.plan(c, obs)
    q = pickle.loads(pickle.dumps(p))
    assert (q.n_terms, q.n_structures, q.flops, q.gradient_flops, q.width, q.peak_memory, q.forward_memory) == (
        p.n_terms, p.n_structures, p.flops, p.gradient_flops, p.width, p.peak_memory, p.forward_memory)
    assert q.counts == p.counts and q.cones == p.cones
    for a, b in zip(p.structures, q.structures):
        assert a.leaves == b.leaves and a.tree == b.tree and a.gates == b.gates
        _same_plan(a.core, b.core)


def test_amplitude_plans_round_trip():
    from pyqml.tensornet.amplitudes import _plan

    rng = np.random.default_rng(8)
    rc = RandomCircuit(6, 40, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    plan = _plan(c, [1, 0, 1, 1, 0, 0], "auto")
    copy = pickle.loads(pickle.dumps(plan))
    _same_plan(plan, copy)
    np.testing.assert_array_equal(_core.tn_amplitudes(c.core, copy, w), _core.tn_amplitudes(c.core, plan, w))
