"""The two-wire fused blocks of the state-vector method (10 wires and more; cpp/src/statevector/fusion.cpp,
on by default, ``_core._set_sv_fusion(False)`` gives the per-gate passes) against the per-gate passes and the
dense numpy reference of tests/dense_reference.py.

Circuits hold every gate of the table on random wires, then runs of random one- and two-wire gates (every
gate type of at most two wires, both wire orders) on fixed wire pairs, so that blocks of several ops form on
every kind of bit pair the kernels treat apart (both bits >= 1; bit 0 with a high bit, as the block's low
and as its high bit; bits 0 and 1 together), then strongly-entangling layers (Rot runs fused with CNOT rings).
Tolerances: complex128 to 1e-12 (states, values, Jacobians, VJPs); complex64 against complex128 to 1e-5;
the gradient also against central differences of the values (1e-7: the differences' own error).
"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, TABLE, RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

TWO_WIRE = [g for g in NAMES if TABLE[g]["n_wires"] <= 2]


@pytest.fixture
def restore():
    threads, fusion = pq.get_num_threads(), _core._sv_fusion()
    yield
    pq.set_num_threads(threads)
    _core._set_sv_fusion(fusion)


def _pairs(n):
    # wire w is bit n-1-w: (n-1, 3) puts bit 0 low in the block, (3, n-1) high; (n-2, n-1) is bits (1, 0)
    return [(0, 1), (2, n // 2), (n - 1, 3), (3, n - 1), (n - 2, n - 1), (n - 1, n - 2), (1, n - 2)]


def _circuit(n, seed, n_inputs=0):
    rng = np.random.default_rng(ref.seed_of("fusion", n, n_inputs, seed))
    rc = RandomCircuit(n, 0, rng, n_inputs=n_inputs)
    spec, nw = [], 0

    def add(entries, n_weights, wire_map=None):
        nonlocal nw
        for name, wires, params, U in entries:
            params = [(k, i + nw if k == 1 else i, s, o) for k, i, s, o in params]
            if wire_map is not None:
                wires = [wire_map[v] for v in wires]
            spec.append((name, wires, params, U))
        nw += n_weights

    for name in NAMES:
        sub = RandomCircuit(n, 1, rng, n_inputs=n_inputs, names=[name])
        if name == "MultiRZ":  # the dense reference builds its 2^k x 2^k matrix: keep k small
            sub.spec = [(name, [int(v) for v in rng.permutation(n)[:int(rng.integers(2, 5))]], sub.spec[0][2], None)]
        add(sub.spec, sub.n_weights)
    rng.shuffle(spec)
    for a, b in _pairs(n):
        names = list(TWO_WIRE)
        rng.shuffle(names)
        for name in names[:8]:
            sub = RandomCircuit(2, 1, rng, n_inputs=n_inputs, names=[name])
            add(sub.spec, sub.n_weights, {0: a, 1: b})
    for layer in range(2):
        r = layer % (n - 1) + 1
        add([("Rot", [i], [(1, 3 * i + k, 1.0, 0.0) for k in range(3)], None) for i in range(n)], 3 * n)
        add([("CNOT", [i, (i + r) % n], [], None) for i in range(n)], 0)
    rc.spec, rc.n_weights = spec, nw
    w = rng.uniform(-np.pi, np.pi, nw)
    return rc, w, rng


def _observables(n, rng):
    zsum = sum((pq.Z(i) for i in range(1, n)), pq.Z(0))
    other, other_terms = random_pauli_sum(n, rng, n_terms=4)
    return [zsum, other], [[(1.0, {i: "Z"}) for i in range(n)], other_terms]


def _all_results(c, obs, w, X, precision="complex128"):
    ex = c.executor(obs, "statevector", precision=precision)
    vals, dw, dx = ex.jacobian(w, X)
    cot = np.linspace(-1, 1, vals.size).reshape(vals.shape)
    v2, vw, vx = ex.vjp(w, X, cot)
    return {"state": ex.state(w, X), "expval": ex.expval(w, X), "vals": vals, "dw": dw, "dx": dx,
            "vjp_vals": v2, "vjp_w": vw, "vjp_x": vx}


@pytest.mark.parametrize("n", [10, 12])
def test_fused_state_and_values_against_the_dense_reference(n, restore):
    rc, w, rng = _circuit(n, 0)
    c = rc.circuit()
    obs, dense = _observables(n, rng)
    psi = rc.state(w)
    assert _core._sv_fusion()
    for threads in (1, 2):
        pq.set_num_threads(threads)
        ex = c.executor(obs, "statevector")
        np.testing.assert_allclose(ex.state(w)[0], psi, atol=1e-12, rtol=0)
        want = [ref.expval_var(t, psi, n)[0] for t in dense]
        np.testing.assert_allclose(ex.expval(w)[0], want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("n, rows", [(10, 1), (11, 3), (13, 1), (14, 2)])
def test_fused_passes_match_the_per_gate_passes(n, rows, restore):
    rc, w, rng = _circuit(n, 1, n_inputs=2)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(rows, 2))
    _core._set_sv_fusion(False)
    pq.set_num_threads(1)
    want = _all_results(c, obs, w, X)
    _core._set_sv_fusion(True)
    for threads in (1, 2):
        pq.set_num_threads(threads)
        got = _all_results(c, obs, w, X)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, atol=1e-12, rtol=0, err_msg=f"{key}, {threads} thread(s)")
        # the switch took another path: the fused products round differently somewhere in the state
        assert not np.array_equal(got["state"], want["state"])


def test_fused_complex64_agrees_with_complex128(restore):
    n = 12
    rc, w, rng = _circuit(n, 2, n_inputs=1)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(2, 1))
    d = _all_results(c, obs, w, X)
    s = _all_results(c, obs, w, X, precision="complex64")
    for key, value in d.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(s[key], value, atol=1e-5 * scale, rtol=0, err_msg=key)


def test_fused_gradient_against_central_differences(restore):
    n = 11
    rc, w, rng = _circuit(n, 3)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    ex = c.executor(obs, "statevector")
    vals, dw = ex.jacobian(w)[:2]
    h = 1e-5
    shifted = np.repeat(w[None, :], 2 * w.size, axis=0)
    idx = np.arange(w.size)
    shifted[2 * idx, idx] += h
    shifted[2 * idx + 1, idx] -= h
    both = ex.expval(shifted)
    fd = ((both[0::2] - both[1::2]) / (2 * h)).T
    np.testing.assert_allclose(np.asarray(dw).reshape(len(obs), w.size), fd, atol=1e-7, rtol=0)


def test_strongly_entangling_layers_fused_with_a_constant_prefix(restore):
    # Constant gates before the first trainable one and blocks without any trainable op (the sweep stops at
    # the first block that holds one), on the W2 circuit shape.
    n = 12
    rng = np.random.default_rng(7)
    c = pq.Circuit(n)
    w = c.new_weights(3 * n * 3)
    with c:
        for i in range(n):
            pq.RY(0.3 + 0.1 * i, wires=i)
        pq.CNOT(wires=[0, n - 1])
        for layer in range(3):
            r = layer % (n - 1) + 1
            for i in range(n):
                base = 3 * (layer * n + i)
                pq.Rot(w[base], w[base + 1], w[base + 2], wires=i)
            for i in range(n):
                pq.CNOT(wires=[i, (i + r) % n])
        pq.IsingXX(0.4, wires=[2, 5])
        pq.Hadamard(wires=n - 1)
    obs = [sum((pq.Z(i) for i in range(1, n)), pq.Z(0)), pq.X(n - 1) @ pq.Y(0)]
    x = rng.uniform(-np.pi, np.pi, 3 * n * 3)
    _core._set_sv_fusion(False)
    want = [c.executor(obs, "statevector").state(x), *c.executor(obs, "statevector").jacobian(x)[:2]]
    _core._set_sv_fusion(True)
    got = [c.executor(obs, "statevector").state(x), *c.executor(obs, "statevector").jacobian(x)[:2]]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------------------
# Fused programs split one row's amplitudes over the threads from ``_core._sv_fused_parallel_min_wires()``
# wires, running the whole forward pass and the whole adjoint sweep in one parallel region each (team.hpp:
# every pass splits its range over the region's threads and ends in a spinning barrier; reductions add fixed
# chunks in a fixed order). ``_core._set_sv_sweep_region(False)`` gives one region per pass instead.
#
# Checks, on the circuits of test_sv_fusion.py (every gate type, blocks on every kind of bit pair, Rot runs
# fused with CNOT rings) with the threshold moved down to the register's width or just above it: states,
# values, Jacobians and VJPs against the per-gate passes (complex128 1e-12) and the dense reference; the
# results of one and two threads, with one region per sweep or one per pass, equal to the bit; complex64
# against complex128 to 1e-5.
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def restore_sweep():
    saved = (pq.get_num_threads(), _core._sv_fusion(), _core._sv_sweep_region(), _core._sv_fused_parallel_min_wires())
    yield
    pq.set_num_threads(saved[0])
    _core._set_sv_fusion(saved[1])
    _core._set_sv_sweep_region(saved[2])
    _core._set_sv_fused_parallel_min_wires(saved[3])


def _results_at(c, obs, w, X, threads, region, precision="complex128"):
    pq.set_num_threads(threads)
    _core._set_sv_sweep_region(region)
    return _all_results(c, obs, w, X, precision)


# (n, threshold, rows): the threshold at the register's width (rows split amplitudes), one above it (one
# thread runs each row), and 15 wires with 2 rows (above the row-parallel width, so rows go one by one).
@pytest.mark.parametrize("n, threshold, rows", [(10, 10, 1), (11, 12, 1), (12, 12, 1), (15, 15, 2)])
def test_sweep_region_matches_per_gate_and_is_thread_count_independent(n, threshold, rows, restore_sweep):
    rc, w, rng = _circuit(n, 4, n_inputs=1)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(rows, 1))
    _core._set_sv_fusion(False)
    want = _results_at(c, obs, w, X, 1, True)
    _core._set_sv_fusion(True)
    _core._set_sv_fused_parallel_min_wires(threshold)
    one = _results_at(c, obs, w, X, 1, True)
    for key, value in want.items():
        np.testing.assert_allclose(one[key], value, atol=1e-12, rtol=0, err_msg=key)
    for threads, region in ((2, True), (2, False), (3, True)):
        got = _results_at(c, obs, w, X, threads, region)
        for key, value in one.items():
            assert np.array_equal(got[key], value), f"{key}: {threads} threads, one region per sweep: {region}"


def test_sweep_region_against_the_dense_reference(restore_sweep):
    n = 11
    rc, w, rng = _circuit(n, 5)
    c = rc.circuit()
    obs, dense = _observables(n, rng)
    psi = rc.state(w)
    _core._set_sv_fused_parallel_min_wires(n)
    pq.set_num_threads(2)
    ex = c.executor(obs, "statevector")
    np.testing.assert_allclose(ex.state(w)[0], psi, atol=1e-12, rtol=0)
    np.testing.assert_allclose(ex.expval(w)[0], [ref.expval_var(t, psi, n)[0] for t in dense], atol=1e-12, rtol=0)


def test_sweep_region_complex64(restore_sweep):
    n = 12
    rc, w, rng = _circuit(n, 6, n_inputs=1)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(1, 1))
    d = _results_at(c, obs, w, X, 1, True)
    _core._set_sv_fused_parallel_min_wires(n)
    s1 = _results_at(c, obs, w, X, 1, True, "complex64")
    s2 = _results_at(c, obs, w, X, 2, True, "complex64")
    for key, value in d.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(s2[key], value, atol=1e-5 * scale, rtol=0, err_msg=key)
        assert np.array_equal(s1[key], s2[key]), key


def test_default_threshold_on_strongly_entangling_layers(restore_sweep):
    # The W2 shape at the default threshold (amplitudes split over two threads) against one thread and
    # the per-gate passes.
    n = _core._sv_fused_parallel_min_wires()
    assert 10 <= n <= 20
    c = pq.Circuit(n)
    w = c.new_weights(2 * n * 3)
    with c:
        for layer in range(2):
            r = layer % (n - 1) + 1
            for i in range(n):
                base = 3 * (layer * n + i)
                pq.Rot(w[base], w[base + 1], w[base + 2], wires=i)
            for i in range(n):
                pq.CNOT(wires=[i, (i + r) % n])
    obs = [sum((pq.Z(i) for i in range(1, n)), pq.Z(0))]
    x = np.random.default_rng(11).uniform(-np.pi, np.pi, 2 * n * 3)
    res = {}
    for fusion, threads in ((False, 1), (True, 1), (True, 2)):
        _core._set_sv_fusion(fusion)
        pq.set_num_threads(threads)
        ex = c.executor(obs, "statevector")
        res[fusion, threads] = [ex.state(x), *ex.jacobian(x)[:2]]
    for a, b, p in zip(res[True, 2], res[True, 1], res[False, 1]):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a, p, atol=1e-12, rtol=0)


@pytest.mark.parametrize("bad", [0, -3, 1000])
def test_threshold_setter_rejects_bad_widths(bad, restore_sweep):
    with pytest.raises(ValueError, match="fused_parallel_min_wires"):
        _core._set_sv_fused_parallel_min_wires(bad)
