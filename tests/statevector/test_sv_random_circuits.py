"""Random circuits on 1..12 wires (every gate type, scattered and reversed wires) against the dense numpy
simulator of tests/dense_reference.py: states, expectation values, variances, marginal probabilities,
samples, complex64.

Tolerances: complex128 to 1e-12 (states, expectation values, probabilities); complex64 to 2e-5 (about
100 float32 roundings of size 6e-8 on unit-norm amplitudes, with margin); sample frequencies within
5 standard deviations of the exact probabilities.
"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq

SV = {"method": "statevector"}


def _expect(psi, terms, n):
    return ref.expval_var(terms, psi, n)


@pytest.mark.parametrize("n", range(1, 13))
def test_random_circuit_state_expval_var_probs(n):
    rng = np.random.default_rng(ref.seed_of("sv", n))
    rc = RandomCircuit(n, 3 * n + 10, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    psi = rc.state(w)
    np.testing.assert_allclose(pq.state(c, weights=w), psi, atol=1e-12, rtol=0)

    obs, terms = zip(*[random_pauli_sum(n, rng) for _ in range(3)])
    want = [_expect(psi, t, n) for t in terms]
    np.testing.assert_allclose(pq.expval(c, list(obs), weights=w, **SV), [e for e, _ in want], atol=1e-12)
    np.testing.assert_allclose(pq.var(c, list(obs), weights=w), [v for _, v in want], atol=1e-11)
    # a single observable gives a scalar
    assert np.ndim(pq.expval(c, obs[0], weights=w, **SV)) == 0

    for _ in range(3):
        k = int(rng.integers(1, n + 1))
        wires = [int(v) for v in rng.permutation(n)[:k]]
        np.testing.assert_allclose(pq.probs(c, wires, weights=w), ref.probs(psi, wires, n), atol=1e-12)
    np.testing.assert_allclose(pq.probs(c, weights=w), np.abs(psi) ** 2, atol=1e-12)

    # complex64
    np.testing.assert_allclose(pq.state(c, weights=w, precision="complex64"), psi, atol=2e-5, rtol=0)
    np.testing.assert_allclose(pq.expval(c, list(obs), weights=w, precision="complex64", **SV),
                               [e for e, _ in want], atol=2e-5 * max(1, sum(abs(c) for c, _ in terms[0])))


@pytest.mark.parametrize("n", [2, 5, 8])
def test_batched_inputs_against_row_by_row_reference(n):
    rng = np.random.default_rng(ref.seed_of("batch", n))
    d = 3
    rc = RandomCircuit(n, 4 * n + 6, rng, n_inputs=d)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(6, d))
    obs, terms = zip(*[random_pauli_sum(n, rng) for _ in range(2)])
    states = np.array([rc.state(w, x) for x in X])
    np.testing.assert_allclose(pq.state(c, weights=w, inputs=X), states, atol=1e-12)
    vals = pq.expval(c, list(obs), weights=w, inputs=X, **SV)
    assert vals.shape == (6, 2)
    want = np.array([[_expect(s, t, n)[0] for t in terms] for s in states])
    np.testing.assert_allclose(vals, want, atol=1e-12)
    # one row without a batch axis
    np.testing.assert_allclose(pq.expval(c, list(obs), weights=w, inputs=X[2], **SV), want[2], atol=1e-12)
    # per-row weights through the executor: (rows, n_weights)
    W = rng.uniform(-np.pi, np.pi, (6, rc.n_weights))
    ex = c.executor(list(obs), "statevector")
    got = ex.expval(W, X)
    want_rows = np.array([[_expect(rc.state(W[r], X[r]), t, n)[0] for t in terms] for r in range(6)])
    np.testing.assert_allclose(got, want_rows, atol=1e-12)
    wires = [n - 1, 0]
    np.testing.assert_allclose(pq.probs(c, wires, weights=w, inputs=X),
                               np.array([ref.probs(s, wires, n) for s in states]), atol=1e-12)


def test_sampling_is_reproducible_and_matches_probabilities():
    n = 4
    rng = np.random.default_rng(12)
    rc = RandomCircuit(n, 20, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    psi = rc.state(w)
    wires = [3, 0, 2]
    shots = 20000
    s1 = pq.sample(c, wires, shots=shots, seed=7, weights=w)
    s2 = pq.sample(c, wires, shots=shots, seed=7, weights=w)
    s3 = pq.sample(c, wires, shots=shots, seed=8, weights=w)
    assert s1.shape == (shots, 3)
    assert set(np.unique(s1)) <= {0, 1}
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    idx = s1 @ (1 << np.arange(len(wires))[::-1])  # first listed wire is the most significant bit
    freq = np.bincount(idx, minlength=2 ** len(wires)) / shots
    p = ref.probs(psi, wires, n)
    sigma = np.sqrt(p * (1 - p) / shots)
    assert np.all(np.abs(freq - p) <= 5 * sigma + 1.0 / shots), (freq, p)


def test_sampling_a_basis_state_is_exact():
    c = pq.Circuit(3, [pq.X(wires=0), pq.X(wires=2)])
    s = pq.sample(c, [2, 1, 0], shots=50, seed=1)
    np.testing.assert_array_equal(s, np.tile([1, 0, 1], (50, 1)))


def test_batched_sampling_uses_one_seed_per_row():
    c = pq.Circuit(2)
    x = c.new_inputs(1)
    with c:
        pq.RY(x[0], wires=0)
        pq.CNOT(wires=[0, 1])
    X = np.array([[0.3], [2.0], [0.3]])
    s = pq.sample(c, [0, 1], shots=4000, seed=3, inputs=X)
    assert s.shape == (3, 4000, 2)
    np.testing.assert_array_equal(s[:, :, 0], s[:, :, 1])  # a Bell-like state: both bits agree
    for r, x in enumerate(X[:, 0]):
        p1 = np.sin(x / 2) ** 2
        assert abs(s[r, :, 0].mean() - p1) <= 5 * np.sqrt(p1 * (1 - p1) / 4000) + 1e-3
    # rows 0 and 2 have the same state but different seeds (seed + row)
    assert not np.array_equal(s[0], s[2])


def test_qnode_measurements_against_reference():
    n = 4
    rng = np.random.default_rng(99)
    rc = RandomCircuit(n, 24, rng, n_inputs=2)
    W = rng.uniform(-np.pi, np.pi, rc.n_weights)
    obs, terms = random_pauli_sum(n, rng)

    @pq.qnode(wires=n, method="statevector")
    def f(inputs, weights):
        c = rc.spec  # replay the spec with the traced arguments
        for name, wires, params, U in c:
            vals = [off if kind == 0 else (weights[i] * s + off if kind == 1 else s * inputs[i] + off)
                    for kind, i, s, off in params]
            if name == "QubitUnitary":
                pq.QubitUnitary(U, wires=wires)
            else:
                pq.GATES[name](*vals, wires=wires)
        return pq.expval(obs), pq.var(obs), pq.probs(wires=[2, 1]), pq.state()

    x = rng.normal(size=2)
    e, v, p, s = f(x, W)
    psi = rc.state(W, x)
    want_e, want_v = _expect(psi, terms, n)
    assert abs(e - want_e) < 1e-12 and abs(v - want_v) < 1e-11
    np.testing.assert_allclose(p, ref.probs(psi, [2, 1], n), atol=1e-12)
    np.testing.assert_allclose(s, psi, atol=1e-12)
    X = rng.normal(size=(3, 2))
    e, v, p, s = f(X, W)
    assert e.shape == (3,) and p.shape == (3, 4) and s.shape == (3, 16)
    for r in range(3):
        psi = rc.state(W, X[r])
        assert abs(e[r] - _expect(psi, terms, n)[0]) < 1e-12
        np.testing.assert_allclose(s[r], psi, atol=1e-12)


def test_identity_terms_and_empty_circuit():
    c = pq.Circuit(3)
    obs = 0.5 * pq.Identity(0) + pq.Z(2) - 2.0 * pq.X(1) @ pq.X(1)  # X@X = I
    np.testing.assert_allclose(pq.expval(c, obs, **SV), 0.5 + 1.0 - 2.0, atol=1e-15)
    np.testing.assert_allclose(pq.state(c), np.eye(8)[0], atol=0)
    assert pq.var(c, obs) == pytest.approx(0.0, abs=1e-15)
