"""Sliced contraction: plans with indices fixed per slice against unsliced plans, the state vector and the
dense reference (values and gradients), the slicers, the memory guard with slicing, and bad targets."""
from __future__ import annotations

import pickle

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core
from pyqml.tensornet.network import StructurePlan
from pyqml.tensornet.slicing import choose_slices, greedy_slices, sliced_cost


def _grid(lx: int, ly: int, layers: int) -> pq.Circuit:
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 3, n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
                pq.RZ(w[l, 2, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RX(w[l, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CNOT(wires=[q(r, col), q(r + 1, col)])
    return c


def _dense_values(rc, terms, w, x):
    """sum_t coeff_t <psi|P_t|psi> per observable and row, from the dense reference's state."""
    out = []
    for xr in x:
        psi = rc.state(w, xr)
        row = []
        for ts in terms:
            total = 0.0
            for coeff, word in ts:
                phi = psi
                for v, letter in word.items():
                    phi = ref.apply(phi, ref.PAULI[letter], [v], rc.n)
                total += coeff * float(np.real(np.vdot(psi, phi)))
            row.append(total)
        out.append(row)
    return np.array(out)


@pytest.fixture
def low_limit():
    yield
    pq.set_memory_limit(0)


def _check_against_statevector(c, obs, w, x=None, **options):
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=x, method="tensornet", **options)
    sv, sdw, sdx = pq.jacobian(c, obs, weights=w, inputs=x, method="statevector")
    np.testing.assert_allclose(v, sv, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, sdw, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx, sdx, atol=1e-10, rtol=0)
    np.testing.assert_allclose(pq.expval(c, obs, weights=w, inputs=x, method="tensornet", **options), sv,
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("target", [2**7, 2**5])
def test_grid_sliced_to_a_target_matches_unsliced_and_statevector(target):
    c = _grid(3, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6) + 0.25, pq.X(1) - 0.5 * pq.Y(10) @ pq.Z(11)]
    w = np.random.default_rng(3).uniform(-np.pi, np.pi, c.n_weights)
    p = pq.plan(c, obs, target_size=target)
    assert p.slices > 1 and p.width <= int(np.log2(target))
    assert p.flop_overhead >= 1.0
    for s in p.structures:
        assert s.width <= int(np.log2(target))
        assert s.n_slices == 2 ** len(s.sliced)
        macs, width = sliced_cost([lf[3] for lf in s.leaves], s.tree, s.sliced)
        assert s.forward_macs == macs and s.width == width
    unsliced = pq.plan(c, obs)
    assert unsliced.slices == 1 and unsliced.flop_overhead == 1.0 and unsliced.width > p.width
    _check_against_statevector(c, obs, w, target_size=target)
    v1, d1, _ = pq.jacobian(c, obs, weights=w, method="tensornet")
    v2, d2, _ = pq.jacobian(c, obs, weights=w, method="tensornet", target_size=target)
    np.testing.assert_allclose(v2, v1, atol=1e-12, rtol=0)
    np.testing.assert_allclose(d2, d1, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed,n,n_gates", [(11, 5, 40), (12, 8, 60), (13, 10, 50)])
def test_random_circuits_over_every_gate_sliced_match_dense_reference(seed, n, n_gates):
    """Every gate of the table (diagonal gates make hyperedges, which slicing fixes in every tensor that
    holds them), weights and affine inputs: values against the dense reference, gradients (weights and
    inputs) against the state vector's adjoint."""
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates, rng, n_inputs=2)
    pairs = [random_pauli_sum(n, rng, n_terms=3) for _ in range(2)]
    obs, terms = [o for o, _ in pairs], [t for _, t in pairs]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, 2))
    c = rc.circuit()
    full = pq.plan(c, obs)
    gate = max(len(lf[3]) for s in full.structures for lf in s.leaves)
    target = 2 ** max(gate, full.width - 3)
    p = pq.plan(c, obs, target_size=target)
    assert p.width <= max(gate, full.width - 3) and (p.slices > 1 or full.width <= gate)
    v = pq.expval(c, obs, weights=w, inputs=x, method="tensornet", target_size=target)
    np.testing.assert_allclose(v, _dense_values(rc, terms, w, x), atol=1e-10, rtol=0)
    _check_against_statevector(c, obs, w, x, target_size=target)


def test_lowered_memory_limit_forces_slicing_and_a_network_refused_unsliced_contracts_sliced(low_limit):
    """Below what the unsliced plan needs, the planner slices (to half the limit) instead of refusing."""
    c = _grid(4, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6), pq.X(9)]
    w = np.linspace(-1.0, 1.3, c.n_weights)
    full = pq.plan(c, obs)
    assert full.slices == 1
    unsliced = max(full.structures, key=lambda s: s.width)
    limit = 0.9 * (unsliced.core.bytes_per_thread(16, False) + unsliced.core.table_bytes)  # refused unsliced
    pq.set_memory_limit(limit)
    p = pq.plan(c, obs)
    assert p.slices > 1 and p.peak_memory <= limit and p.width < full.width
    # The unsliced plan is what the guard would have refused.
    with pytest.raises(pq.MemoryLimitError):
        c.executor(obs, "tensornet")._refuse_oversized(unsliced, 16, limit)
    v, dw, _ = pq.jacobian(c, obs, weights=w, method="tensornet")
    pq.set_memory_limit(0)
    sv, sdw, _ = pq.jacobian(c, obs, weights=w, method="statevector")
    np.testing.assert_allclose(v, sv, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, sdw, atol=1e-10, rtol=0)


def test_what_cannot_fit_even_sliced_is_refused_with_its_estimate(low_limit):
    c = _grid(2, 3, 2)
    obs = [pq.Z(1) @ pq.Z(2)]
    pq.set_memory_limit(64)  # bytes: below the tables and a gate tensor of any slice
    with pytest.raises(pq.MemoryLimitError) as err:
        pq.expval(c, obs, weights=np.zeros(c.n_weights), method="tensornet")
    assert "needs an estimated" in str(err.value) and "memory limit" in str(err.value)


def test_slices_are_summed_in_a_fixed_order_across_thread_counts():
    """A pair's slices are added in slice order whether threads take pairs or slices: bit-for-bit equal."""
    c = _grid(3, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6)]
    w = np.random.default_rng(5).normal(size=c.n_weights)
    before = pq.get_num_threads()
    try:
        out = []
        for t in (1, 2, 3):
            pq.set_num_threads(t)
            out.append(pq.jacobian(c, obs, weights=w, method="tensornet", target_size=2**6))
    finally:
        pq.set_num_threads(before)
    for o in out[1:]:
        for a, b in zip(out[0], o):
            assert np.array_equal(a, b)


def test_greedy_and_cotengra_slicers_meet_the_target_and_give_the_same_values():
    c = _grid(3, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6)]
    w = np.random.default_rng(7).normal(size=c.n_weights)
    ex = c.executor(obs, "tensornet")
    plan = ex.plans[0]
    labels = [lf[3] for lf in plan.leaves]
    slicers = ["greedy"]
    try:
        import cotengra  # noqa: F401

        slicers.append("cotengra")
    except ImportError:
        pass
    ref = ex.expval(w)
    for slicer in slicers:
        sl = choose_slices(labels, plan.tree, plan.width - 3, slicer)
        assert sliced_cost(labels, plan.tree, sl)[1] <= plan.width - 3
        sp = plan.with_slices(sl)
        ex._tn.set_plan(0, sp.core)
        np.testing.assert_allclose(ex._tn.expval(w, None), ref, atol=1e-12, rtol=0)
    ex._tn.set_plan(0, plan.core)
    # The greedy slicer is a function of the tree alone.
    assert greedy_slices(labels, plan.tree, plan.width - 3) == greedy_slices(labels, plan.tree, plan.width - 3)


def test_sliced_plans_pickle_with_their_slices():
    c = _grid(3, 3, 2)
    obs = [pq.Z(4)]
    p = pq.plan(c, obs, target_size=2**3)
    core = p.structures[0].core
    back = pickle.loads(pickle.dumps(core))
    assert back.sliced == core.sliced and back.n_slices == core.n_slices > 1
    assert back.forward_macs == core.forward_macs and back.width == core.width
    assert StructurePlan.from_core(back).n_slices == core.n_slices


def test_slice_ranges_add_up_to_the_full_result():
    """expval_slices / jacobian_slices over ranges that cover every slice (what pyqml.distributed sends as
    tasks) add up to the full call; the constant terms count in the range starting at 0."""
    c = _grid(3, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6) + 0.5, pq.X(2)]
    w = np.random.default_rng(9).normal(size=c.n_weights)
    ex = c.executor(obs, "tensornet", target_size=2**6)
    tn = ex._tn
    n = tn.max_slices
    assert n >= 4
    full = tn.jacobian(w, None)
    parts = [tn.jacobian_slices(w, None, a, min(n, a + 3)) for a in range(0, n, 3)]
    for i in range(3):
        np.testing.assert_allclose(sum(p[i] for p in parts), full[i], atol=1e-12, rtol=0)
    np.testing.assert_allclose(tn.expval_slices(w, None, n, -1), 0.0, atol=0)  # beyond the last slice: nothing


def test_bad_targets_and_slices_are_refused():
    c = _grid(2, 3, 1)
    obs = [pq.Z(1)]
    w = np.zeros(c.n_weights)
    with pytest.raises(ValueError, match="smaller than the network's largest tensor"):
        pq.expval(c, obs, weights=w, method="tensornet", target_size=2)
    for bad in (0, -4, "big", float("nan"), True):
        with pytest.raises(ValueError, match="target_size"):
            pq.expval(c, obs, weights=w, method="tensornet", target_size=bad)
    with pytest.raises(ValueError, match="does not take the option 'target_size'"):
        pq.expval(c, obs, weights=w, method="statevector", target_size=16)
    plan = c.executor(obs, "tensornet").plans[0]
    with pytest.raises(ValueError, match="not an index of the network"):
        _core.ContractionPlan(plan.gates, plan.leaves, plan.tree, [10**6])
    with pytest.raises(ValueError, match="repeated"):
        lab = plan.leaves[0][3][0]
        _core.ContractionPlan(plan.gates, plan.leaves, plan.tree, [lab, lab])
