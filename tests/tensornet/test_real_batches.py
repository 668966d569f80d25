"""Real term batches: when every gate matrix of a lane batch and every constant leaf of its plan is real
(RY / CZ brickworks, Z and X words), the batch runs the real lane programs (contraction.hpp, "Real
batches"). Against the same executor term by term (``term_batching = False``, complex GEMMs) and an
independent dense simulation (tests/dense_reference.py) with exact parameter-shift gradients, values and
gradients to 1e-12; batches mixing real and complex lanes, rows whose realness depends on the data, complex
constants (Y words), odd numbers of terms per structure and single precision."""
from __future__ import annotations

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import ry_cz_brickwork

import pyqml as pq

LANES = 8  # tn::Executor::kLanes


def _executors(c, obs, precision="complex128"):
    ex = c.executor(obs, "tensornet", precision)
    per_term = pq.tensornet.TensorNetExecutor(c, obs, precision)
    per_term._tn.term_batching = False
    return ex, per_term


def _brickwork_gates(n, layers, w, rz=None):
    """Dense gate list of ry_cz_brickwork (w of shape (layers, 2, n)); rz: (wire, angle) pairs applied
    after the first RY layer."""
    w = np.asarray(w).reshape(layers, 2, n)
    gates = []
    for layer in range(layers):
        for half in (0, 1):
            for i in range(n):
                gates.append((ref.ry(w[layer, half, i]), [i]))
            if layer == 0 and half == 0 and rz is not None:
                for i, a in rz:
                    gates.append((ref.rz(a), [i]))
            for i in range(half, n - 1, 2):
                gates.append((ref.gate_matrix("CZ"), [i, i + 1]))
    return gates


def _dense_energy(n, gates, terms):
    psi = ref.simulate(n, gates)
    return float(np.vdot(psi, ref.pauli_apply(terms, psi, n)).real)


def _dense_value_and_grad(n, layers, w, terms):
    """E and dE/dw by the exact two-term shift rule of RY (generator Y / 2)."""
    w = np.asarray(w, dtype=float)
    e = _dense_energy(n, _brickwork_gates(n, layers, w), terms)
    g = np.empty_like(w)
    for k in range(w.size):
        d = np.zeros_like(w)
        d[k] = np.pi / 2
        g[k] = 0.5 * (_dense_energy(n, _brickwork_gates(n, layers, w + d), terms)
                      - _dense_energy(n, _brickwork_gates(n, layers, w - d), terms))
    return e, g


def _zz_x(n):
    obs = sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), start=0.0 * pq.Z(0))
    obs = obs + sum((0.3 * pq.X(i) for i in range(1, n, 3)), start=0.0 * pq.Z(0))
    terms = [(1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(0.3, {i: "X"}) for i in range(1, n, 3)]
    return obs, terms


def _check(ex, per_term, w, x=None, tol=1e-12):
    assert ex._tn.batches_terms(1, False) and ex._tn.batches_terms(1, True)
    v1, dw1, dx1 = ex.jacobian(w, x)
    v2, dw2, dx2 = per_term.jacobian(w, x)
    np.testing.assert_allclose(ex.expval(w, x), per_term.expval(w, x), atol=tol, rtol=0)
    np.testing.assert_allclose(v1, v2, atol=tol, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=tol, rtol=0)
    if dx1 is not None and dx1.size:
        np.testing.assert_allclose(dx1, dx2, atol=tol, rtol=0)
    return v1, dw1


@pytest.mark.parametrize("n,layers", [(12, 2)])
def test_real_brickwork_against_dense(n, layers):
    """RY / CZ with ZZ and X words: every batch real; values and gradients against the per-term path and the
    dense parameter-shift reference, 1e-12."""
    c = ry_cz_brickwork(n, layers)
    obs, terms = _zz_x(n)
    ex, per_term = _executors(c, [obs])
    w = np.random.default_rng(n * 10 + layers).uniform(-np.pi, np.pi, c.n_weights)
    v, dw = _check(ex, per_term, w)
    e, g = _dense_value_and_grad(n, layers, w, terms)
    np.testing.assert_allclose(v[0, 0], e, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw[0, 0], g, atol=1e-12, rtol=0)


def test_odd_term_counts_per_structure():
    """Chains whose structures hold every odd number of terms from 1 to 17 (whole batches, a partial last
    batch of 4-7 lanes, tails of 1-3 terms run on their own), batched real against per-term, two rows."""
    seen = set()
    for n in (10, 14, 18, 22, 26, 30, 34, 38):
        c = ry_cz_brickwork(n, 2)
        obs, _ = _zz_x(n)
        ex, per_term = _executors(c, [obs])
        seen.update(int(k) for k in ex._tn.structure_counts())
        W = np.random.default_rng(n).uniform(-np.pi, np.pi, (2, c.n_weights))
        np.testing.assert_allclose(ex.expval(W), per_term.expval(W), atol=1e-12, rtol=0)
        v1, dw1, _ = ex.jacobian(W)
        v2, dw2, _ = per_term.jacobian(W)
        np.testing.assert_allclose(v1, v2, atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw1, dw2, atol=1e-12, rtol=0)
    assert set(range(1, 18, 2)) <= seen, sorted(seen)


def test_realness_per_row_and_per_lane():
    """RZ(x_i) on every wire after the first RY layer, x from the data: a row of zeros is real (identity RZ);
    a row with one nonzero x has complex lanes in the batches whose cones hold that wire (a mixed batch runs
    complex) and real batches elsewhere; a row of nonzero x is complex throughout. Values, weight and input
    gradients against the per-term path, values against the dense reference."""
    n, layers = 14, 2
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    x = c.new_inputs(n)
    with c:
        for layer in range(layers):
            for half in (0, 1):
                for i in range(n):
                    pq.RY(w[layer, half, i], wires=i)
                if layer == 0 and half == 0:
                    for i in range(n):
                        pq.RZ(x[i], wires=i)
                for i in range(half, n - 1, 2):
                    pq.CZ(wires=[i, i + 1])
    obs, terms = _zz_x(n)
    ex, per_term = _executors(c, [obs])
    rng = np.random.default_rng(7)
    wv = rng.uniform(-np.pi, np.pi, c.n_weights)
    X = np.zeros((3, n))
    X[1, 10] = 0.9
    X[2] = rng.uniform(-2, 2, n)
    v, dw = _check(ex, per_term, wv, X)
    for r in range(len(X)):
        gates = _brickwork_gates(n, layers, wv, rz=[(i, X[r, i]) for i in range(n)])
        np.testing.assert_allclose(v[r, 0], _dense_energy(n, gates, terms), atol=1e-12, rtol=0)
    # The zero row equals the plain brickwork (RZ(0) is the identity).
    plain = ry_cz_brickwork(n, layers).executor([obs], "tensornet")
    v0, dw0, _ = plain.jacobian(wv)
    np.testing.assert_allclose(v[0], v0[0], atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw[0], dw0[0], atol=1e-12, rtol=0)


def test_complex_constants_and_threads():
    """A Y word makes its structure's constants complex (complex batches) next to real ZZ batches; the
    numbers are the same bit for bit at one thread and on a second call."""
    n = 14
    c = ry_cz_brickwork(n, 2)
    obs, terms = _zz_x(n)
    obs = obs + sum((0.7 * pq.Y(i) @ pq.Z(i + 1) for i in range(0, n - 1)), start=0.0 * pq.Z(0))
    terms = terms + [(0.7, {i: "Y", i + 1: "Z"}) for i in range(0, n - 1)]
    ex, per_term = _executors(c, [obs])
    w = np.random.default_rng(3).uniform(-np.pi, np.pi, c.n_weights)
    v, dw = _check(ex, per_term, w)
    np.testing.assert_allclose(v[0, 0], _dense_energy(n, _brickwork_gates(n, 2, w), terms), atol=1e-12, rtol=0)
    threads = pq.get_num_threads()
    try:
        pq.set_num_threads(1)
        v1, dw1, _ = ex.jacobian(w)
    finally:
        pq.set_num_threads(threads)
    v2, dw2, _ = ex.jacobian(w)
    assert np.array_equal(v, v1) and np.array_equal(dw, dw1)
    assert np.array_equal(v, v2) and np.array_equal(dw, dw2)


def test_real_batches_single_precision():
    n = 12
    c = ry_cz_brickwork(n, 2)
    obs, _ = _zz_x(n)
    ex, per_term = _executors(c, [obs], "complex64")
    w = np.random.default_rng(11).uniform(-np.pi, np.pi, c.n_weights)
    v, dw = _check(ex, per_term, w, tol=1e-5)
    # against the double-precision batches (checked against the dense reference above)
    v2, dw2, _ = c.executor([obs], "tensornet").jacobian(w)
    np.testing.assert_allclose(v, v2, atol=2e-5, rtol=0)
    np.testing.assert_allclose(dw, dw2, atol=2e-5, rtol=0)
