"""Rows across SIMD lanes (cpp/src/statevector/lanes.cpp): batches of at least three rows on registers of
at most eight wires run eight rows at a time in structure-of-arrays kernels; a single row runs the per-row
kernels. So a batch's values, Jacobians and VJPs are checked here against the same rows computed one at a
time (the per-row kernels, 1e-12), for every row count from 1 to 67 (every tail of a lane block), every
gate of the table, shared and per-row weights, both precisions; and against the dense reference."""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, RandomCircuit, random_pauli_sum

import pyqml as pq

SV = {"method": "statevector"}


def _setup(n, seed, n_inputs=3):
    rng = np.random.default_rng(seed)
    # Every gate of the table at least once (those that fit on n wires), then random ones.
    names = [g for g in NAMES if g != "QubitUnitary" or n >= 1]
    rc = RandomCircuit(n, 2 * len(names), rng, n_inputs=n_inputs, names=names)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, n_inputs))
    obs, terms = zip(*[random_pauli_sum(n, rng, n_terms=3) for _ in range(3)])
    return rc, rc.circuit(), w, X, list(obs), list(terms)


def _one_at_a_time(c, obs, w, X, precision="complex128"):
    vals, dw, dx = [], [], []
    for r in range(X.shape[0]):
        wr = w[r] if w.ndim == 2 else w
        v, a, b = pq.jacobian(c, obs, weights=wr, inputs=X[r:r + 1], precision=precision, **SV)
        vals.append(v[0])
        dw.append(a[0])
        dx.append(b[0])
    return np.array(vals), np.array(dw), np.array(dx)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_every_row_count_matches_rows_one_at_a_time(n):
    rc, c, w, X, obs, _ = _setup(n, ref.seed_of("lanes", n))
    v1, dw1, dx1 = _one_at_a_time(c, obs, w, X)
    for rows in range(1, 68):
        v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X[:rows], **SV)
        np.testing.assert_allclose(v, v1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw, dw1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dx, dx1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(pq.expval(c, obs, weights=w, inputs=X[:rows], **SV), v1[:rows],
                                   atol=1e-12, rtol=0)


def test_values_against_the_dense_reference():
    rc, c, w, X, obs, terms = _setup(4, ref.seed_of("lanes-dense"))
    X = X[:19]
    vals = pq.expval(c, obs, weights=w, inputs=X, **SV)
    dense = np.array([[ref.expval_var(t, rc.state(w, x), rc.n)[0] for t in terms] for x in X])
    np.testing.assert_allclose(vals, dense, atol=1e-12, rtol=0)


def test_gradients_against_dense_finite_differences():
    rc, c, w, X, obs, terms = _setup(4, ref.seed_of("lanes-fd"))
    X = X[:5]
    _, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, **SV)

    def dense(wv, Xv):
        return np.array([[ref.expval_var(t, rc.state(wv, x), rc.n)[0] for t in terms] for x in Xv])

    h = 1e-6
    for k in range(0, rc.n_weights, max(1, rc.n_weights // 6)):  # six weights spread over the circuit
        e = np.zeros_like(w)
        e[k] = h
        np.testing.assert_allclose(dw[:, :, k], (dense(w + e, X) - dense(w - e, X)) / (2 * h), atol=1e-8)
    for j in range(X.shape[1]):
        e = np.zeros_like(X)
        e[:, j] = h
        np.testing.assert_allclose(dx[:, :, j], (dense(w, X + e) - dense(w, X - e)) / (2 * h), atol=1e-8)


@pytest.mark.parametrize("per_row", [False, True])
def test_vjp_matches_the_contracted_jacobian(per_row):
    rc, c, w, X, obs, _ = _setup(5, ref.seed_of("lanes-vjp", per_row))
    rows = 29
    X = X[:rows]
    rng = np.random.default_rng(3)
    W = rng.uniform(-np.pi, np.pi, (rows, rc.n_weights)) if per_row else w
    cot = rng.normal(size=(rows, len(obs)))
    vals, dw, dx = _one_at_a_time(c, obs, W, X)
    ex = c.executor(obs, "statevector", "complex128", "vjp")
    v, gw, gx = ex.vjp(W, X, cot)
    np.testing.assert_allclose(v, vals, atol=1e-12, rtol=0)
    want_w = np.einsum("ro,rok->rk", cot, dw)
    np.testing.assert_allclose(gw, want_w if per_row else want_w.sum(axis=0), atol=1e-11, rtol=0)
    np.testing.assert_allclose(gx, np.einsum("ro,rok->rk", cot, dx), atol=1e-12, rtol=0)


def test_complex64_lanes_agree_with_complex128():
    rc, c, w, X, obs, _ = _setup(6, ref.seed_of("lanes-c64"))
    X = X[:21]
    v64, dw64, dx64 = pq.jacobian(c, obs, weights=w, inputs=X, precision="complex64", **SV)
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    np.testing.assert_allclose(v64, v, atol=2e-5)
    np.testing.assert_allclose(dw64, dw, atol=2e-5)
    np.testing.assert_allclose(dx64, dx, atol=2e-5)
    # and the lanes equal the per-row complex64 kernels to their rounding
    v1, dw1, _ = _one_at_a_time(c, obs, w, X, precision="complex64")
    np.testing.assert_allclose(v64, v1, atol=2e-6)
    np.testing.assert_allclose(dw64, dw1, atol=2e-6)


def test_lane_results_do_not_depend_on_the_thread_count():
    rc, c, w, X, obs, _ = _setup(4, ref.seed_of("lanes-threads"))
    before = pq.get_num_threads() if hasattr(pq, "get_num_threads") else None
    try:
        pq.set_num_threads(1)
        a = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
        pq.set_num_threads(2)
        b = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    finally:
        if before is not None:
            pq.set_num_threads(before)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_nan_in_one_row_is_refused_with_its_row():
    rc, c, w, X, obs, _ = _setup(3, ref.seed_of("lanes-nan"))
    X = X[:13].copy()
    X[10, 0] = np.nan
    with pytest.raises(ValueError, match="row 10|NaN|finite"):
        pq.jacobian(c, obs, weights=w, inputs=X, **SV)


@pytest.mark.parametrize("scale", [1.0, 40.0, 1e6, 1e15])
def test_lane_binding_at_large_angles_matches_rows_one_at_a_time(scale):
    # The lane path binds rotations from its own vectorised sines and cosines of the reduced half angles
    # (angles beyond +-2 pi reduced exactly, as the gate table does): large angles agree with the per-row
    # binding to rounding, for every gate of the table.
    rc, c, w, X, obs, _ = _setup(4, ref.seed_of("lanes-large", scale))
    w = w * scale
    X = X[:11] * scale
    v1, dw1, dx1 = _one_at_a_time(c, obs, w, X)
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    np.testing.assert_allclose(v, v1, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw, dw1, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dx, dx1, atol=1e-12, rtol=0)


def test_seed_qnn_through_lanes_against_the_dense_reference():
    # The headline circuit (AngleEmbedding + 2 layers of StronglyEntanglingLayers on 4 wires, <Z_i>):
    # values of 13 rows (a full lane block and a tail) against the dense reference, Jacobians against
    # central differences of the dense reference.
    n = 4
    rng = np.random.default_rng(ref.seed_of("lanes-seed-qnn"))
    c = pq.Circuit(n)
    x = c.new_inputs(n)
    w = c.new_weights(2 * n * 3)
    layers = []
    with c:
        for j in range(n):
            pq.RX(x[j], wires=[j])
        for layer in range(2):
            r = layer % (n - 1) + 1
            for i in range(n):
                k = 3 * (layer * n + i)
                pq.Rot(w[k], w[k + 1], w[k + 2], wires=[i])
            for i in range(n):
                pq.CNOT(wires=[i, (i + r) % n])
            layers.append(r)
    obs = [pq.Observable.pauli("Z", i) for i in range(n)]
    W = rng.uniform(-np.pi, np.pi, 2 * n * 3)
    X = rng.uniform(-2, 2, (13, n))
    cnot = ref.gate_matrix("CNOT")

    def dense(wv, xv):
        gates = [(ref.rx(xv[j]), [j]) for j in range(n)]
        for layer, r in enumerate(layers):
            for i in range(n):
                k = 3 * (layer * n + i)
                gates.append((ref.rot(*wv[k:k + 3]), [i]))
            gates += [(cnot, [i, (i + r) % n]) for i in range(n)]
        psi = ref.simulate(n, gates)
        return np.array([ref.expval_var([(1.0, {i: "Z"})], psi, n)[0] for i in range(n)])

    vals, dw, dx = pq.jacobian(c, obs, weights=W, inputs=X, **SV)
    np.testing.assert_allclose(vals, np.array([dense(W, xr) for xr in X]), atol=1e-12, rtol=0)
    h = 1e-6
    for k in (0, 7, 17, 23):
        e = np.zeros_like(W)
        e[k] = h
        fd = np.array([(dense(W + e, xr) - dense(W - e, xr)) / (2 * h) for xr in X])
        np.testing.assert_allclose(dw[:, :, k], fd, atol=1e-8)
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        fd = np.array([(dense(W, xr + e) - dense(W, xr - e)) / (2 * h) for xr in X])
        np.testing.assert_allclose(dx[:, :, j], fd, atol=1e-8)
