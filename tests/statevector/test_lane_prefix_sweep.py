"""The lane path's Jacobian kernels (cpp/src/statevector/lanes.cpp): the product-state prefix's derivatives
from forward tangents (each prefix parameter's derivative of its wire's 2-vector) overlapped with every
lambda's contraction, the contractions of all lambdas of a block in one pass, the multi-lambda 2x2 sweep
step, the per-row binding of only the row ops' angles and the chain rule per lane block. Checked on random
circuits whose prefix holds every single-wire gate of the table (chains of dense, diagonal, constant and
generic gates per wire, weights and inputs mixed) followed by every other gate and permutation rings:
against the same rows one at a time (the per-row kernels), the dense reference and central finite
differences, for every row count 1..67, shared and per-row weights, both precisions, and VJPs with and
without input gradients (the input tangents are skipped without)."""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, TABLE, RandomCircuit, random_pauli_sum

import pyqml as pq

SINGLE = [g for g in NAMES if TABLE[g]["n_wires"] == 1] + ["MultiRZ", "QubitUnitary"]


def _param(rng, n_weights, n_inputs):
    r = rng.random()
    if r < 0.45:
        return (1, n_weights, 1.0, 0.0), n_weights + 1
    if r < 0.8:
        return (2, int(rng.integers(n_inputs)), float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1))), n_weights
    return (0, 0, 1.0, float(rng.uniform(-np.pi, np.pi))), n_weights


def _circuit(n, seed, n_inputs=3, suffix_gates=None):
    """A prefix of 1-3 single-wire gates per wire (every single-wire gate of the table at least once over the
    wires, one wire left empty when n > 2), then random gates of every kind and a CNOT ring."""
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, 0, rng, n_inputs=n_inputs)
    names = list(rng.permutation(SINGLE))
    spec, nw = [], 0
    for w in range(n - (n > 2)):
        for _ in range(int(rng.integers(1, 4))):
            name = names.pop() if names else SINGLE[int(rng.integers(len(SINGLE)))]
            params = []
            for _ in range(TABLE[name]["n_params"]):
                p, nw = _param(rng, nw, n_inputs)
                params.append(p)
            U = ref.random_unitary(2, rng) if name == "QubitUnitary" else None
            spec.append((name, [w], params, U))
    while names:  # the rest of the single-wire gates on the last prefix wire
        name = names.pop()
        params = []
        for _ in range(TABLE[name]["n_params"]):
            p, nw = _param(rng, nw, n_inputs)
            params.append(p)
        spec.append((name, [0], params, ref.random_unitary(2, rng) if name == "QubitUnitary" else None))
    rest = RandomCircuit(n, suffix_gates or 3 * n, rng, n_inputs=n_inputs)
    # The suffix's weights after the prefix's.
    for name, wires, params, U in rest.spec:
        spec.append((name, wires, [(k, i + nw if k == 1 else i, s, o) for k, i, s, o in params], U))
    spec = spec[:len(spec) - len(rest.spec)] + [("CNOT", [0, 1], [], None)] + spec[len(spec) - len(rest.spec):]
    spec += [("CNOT", [i, (i + 1) % n], [], None) for i in range(n)]
    spec += [("RY", [i], [(1, nw + rest.n_weights + i, 1.0, 0.0)], None) for i in range(n)]
    rc.spec = spec
    rc.n_weights = nw + rest.n_weights + n
    return rc, rc.circuit(), rng


def _z_observables(n, rng):
    out = []
    for i in range(n):
        out.append((pq.Observable.pauli("Z", i), [(1.0, {i: "Z"})]))
    out.append((pq.Observable.pauli("Z", 0) @ pq.Observable.pauli("Z", n - 1), [(1.0, {0: "Z", n - 1: "Z"})]))
    return out


def _observables(kind, n, rng):
    pairs = _z_observables(n, rng) if kind == "diagonal" else [random_pauli_sum(n, rng, n_terms=3) for _ in range(3)]
    obs, terms = zip(*pairs)
    return list(obs), list(terms)


def _rows_one_at_a_time(ex, W, X):
    vals, dw, dx = [], [], []
    for r in range(X.shape[0]):
        v, a, b = ex.jacobian(W[r:r + 1] if W.ndim == 2 else W, X[r:r + 1])
        vals.append(v[0])
        dw.append(a[0])
        dx.append(b[0])
    return np.array(vals), np.array(dw), np.array(dx)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
@pytest.mark.parametrize("n", [3, 5])
def test_every_row_count_matches_rows_one_at_a_time(n, kind):
    rc, c, rng = _circuit(n, ref.seed_of("lane-prefix-rows", n, kind))
    obs, _ = _observables(kind, n, rng)
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, 3))
    v1, dw1, dx1 = _rows_one_at_a_time(ex, w, X)
    for rows in list(range(1, 20)) + [23, 31, 32, 33, 47, 64, 65, 67]:
        v, dw, dx = ex.jacobian(w, X[:rows])
        np.testing.assert_allclose(v, v1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw, dw1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dx, dx1[:rows], atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
def test_per_row_weights_and_vjp_with_and_without_input_gradients(kind):
    n = 4
    rc, c, rng = _circuit(n, ref.seed_of("lane-prefix-vjp", kind))
    obs, _ = _observables(kind, n, rng)
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    X = rng.normal(size=(21, 3))
    W = rng.uniform(-np.pi, np.pi, (21, rc.n_weights))
    v1, dw1, dx1 = _rows_one_at_a_time(ex, W, X)
    v, dw, dx = ex.jacobian(W, X)
    for a, b in ((v, v1), (dw, dw1), (dx, dx1)):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    cot = rng.normal(size=v.shape)
    for weights, (jv, jw, jx) in ((W, (v, dw, dx)), (W[0], ex.jacobian(W[0], X))):
        vv, gw, gx = ex.vjp(weights, X, cot)
        np.testing.assert_allclose(vv, jv, atol=1e-12, rtol=0)
        np.testing.assert_allclose(gx, np.einsum("ro,roj->rj", cot, jx), atol=1e-12, rtol=0)
        ref_w = np.einsum("ro,rok->rk", cot, jw)
        np.testing.assert_allclose(gw, ref_w if weights.ndim == 2 else ref_w.sum(0), atol=1e-11, rtol=0)
        # Without input gradients: the prefix's input tangents are skipped, the weights' gradient is the same.
        _, gw2, _ = ex.vjp(weights, X, cot, need_dx=False)
        np.testing.assert_allclose(gw2, gw, atol=1e-12, rtol=0)


def test_against_the_dense_reference_and_finite_differences():
    n = 4
    rc, c, rng = _circuit(n, ref.seed_of("lane-prefix-fd"))
    obs, terms = _observables("pauli", n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(5, 3))
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, method="statevector")

    def dense(wv, Xv):
        return np.array([[ref.expval_var(t, rc.state(wv, x), rc.n)[0] for t in terms] for x in Xv])

    np.testing.assert_allclose(v, dense(w, X), atol=1e-12, rtol=0)
    h = 1e-6
    for k in np.linspace(0, rc.n_weights - 1, 8).astype(int):  # eight weights spread over the circuit
        e = np.zeros_like(w)
        e[k] = h
        np.testing.assert_allclose(dw[:, :, k], (dense(w + e, X) - dense(w - e, X)) / (2 * h), atol=1e-8)
    for j in range(X.shape[1]):
        e = np.zeros_like(X)
        e[:, j] = h
        np.testing.assert_allclose(dx[:, :, j], (dense(w, X + e) - dense(w, X - e)) / (2 * h), atol=1e-8)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
def test_complex64_lanes(kind):
    n = 5
    rc, c, rng = _circuit(n, ref.seed_of("lane-prefix-c64", kind))
    obs, _ = _observables(kind, n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(19, 3))
    v, dw, dx = c.executor(obs, "statevector", "complex128", "jacobian").jacobian(w, X)
    ex64 = c.executor(obs, "statevector", "complex64", "jacobian")
    v64, dw64, dx64 = ex64.jacobian(w, X)
    for a, b in ((v64, v), (dw64, dw), (dx64, dx)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    v1, dw1, dx1 = _rows_one_at_a_time(ex64, w, X)  # the per-row complex64 kernels
    for a, b in ((v64, v1), (dw64, dw1), (dx64, dx1)):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=0)


def test_seed_qnn_shape_weights_only_and_with_inputs():
    # The seed QNN's shape (RX embedding, two StronglyEntanglingLayers-like layers, <Z_i> on every wire):
    # a prefix of RX(x) then Rot(w) per wire, all four observables diagonal, the weights shared.
    n = 4
    c = pq.Circuit(n)
    x = c.new_inputs(n)
    w = c.new_weights(2 * n * 3)
    with c:
        for j in range(n):
            pq.RX(x[j], wires=[j])
        for layer in range(2):
            for j in range(n):
                k = 3 * (layer * n + j)
                pq.Rot(w[k], w[k + 1], w[k + 2], wires=[j])
            for j in range(n):
                pq.CNOT(wires=[j, (j + 1 + layer) % n])
    obs = [pq.Observable.pauli("Z", i) for i in range(n)]
    rng = np.random.default_rng(ref.seed_of("lane-prefix-qnn"))
    W = rng.uniform(-np.pi, np.pi, 2 * n * 3)
    X = rng.uniform(-2, 2, (29, n))
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    v1, dw1, dx1 = _rows_one_at_a_time(ex, W, X)
    v, dw, dx = ex.jacobian(W, X)
    for a, b in ((v, v1), (dw, dw1), (dx, dx1)):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    cot = rng.normal(size=v.shape)
    _, gw, _ = ex.vjp(W, X, cot, need_dx=False)
    np.testing.assert_allclose(gw, np.einsum("ro,rok->k", cot, dw1), atol=1e-11, rtol=0)
