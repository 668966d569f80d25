"""Finite shots: grouping into qubit-wise commuting sets, sampled estimates against the dense reference,
reproducibility, 1/sqrt(shots) scaling, shot vectors, shift-rule gradients from shots, devices, sample(op)."""
from __future__ import annotations

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml.frontend import shots as S


def _circuit():
    c = pq.Circuit(3)
    w = c.new_weights(5)
    with c:
        pq.RX(w[0], wires=0)
        pq.RY(w[1], wires=1)
        pq.CNOT(wires=[0, 1])
        pq.RX(w[2], wires=2)
        pq.CRY(w[3], wires=[1, 2])
        pq.RZ(w[4], wires=0)
        pq.H(wires=2)
    return c


W = np.array([0.3, 0.7, 1.1, -0.8, 0.45])
HAM = (0.5 * pq.Z(0) @ pq.Z(1) + 0.3 * pq.X(2) + 0.2 * pq.Y(0) - 0.4 * pq.X(1) @ pq.Z(2)
       + 0.25 * pq.Y(0) @ pq.X(1) + 0.7)


def _dense_state(w):
    g = [("RX", [w[0]], [0]), ("RY", [w[1]], [1]), ("CNOT", [], [0, 1]), ("RX", [w[2]], [2]),
         ("CRY", [w[3]], [1, 2]), ("RZ", [w[4]], [0]), ("Hadamard", [], [2])]
    return ref.simulate(3, [(ref.gate_matrix(n, p), ws) for n, p, ws in g])


def _exact(obs, w=W):
    return float(np.real(np.vdot(_dense_state(w), obs.matrix(3) @ _dense_state(w))))


def test_dense_reference_agrees_with_engine():
    assert abs(pq.expval(_circuit(), HAM, weights=W) - _exact(HAM)) < 1e-10


def test_groups_commute_qubit_wise_and_cover_every_word():
    groups, consts = S.qwc_groups([HAM, pq.Z(0)])
    seen = []
    for g in groups:
        for _, _, word in g.members:
            assert all(g.basis[w] == p for w, p in word)
            seen.append(word)
    words = {tuple(zip(ws, ls)) for _, ws, ls in HAM.core_terms() if ws} | {((0, "Z"),)}
    assert sorted(set(seen)) == sorted(words)
    assert len(groups) < len(words)  # grouping saves measurements
    assert consts.tolist() == [0.7, 0.0]


def test_grouped_measurement_has_the_term_by_term_distribution():
    # Each word's +-1 outcome distribution read from its group's rotated circuit equals the one from a
    # circuit measuring that word alone, and both give the dense reference's <P>.
    c = _circuit()
    groups, _ = S.qwc_groups([HAM])
    bits = {}
    for g in groups:
        mc = S.measured_circuit(c, g.basis)
        p = pq.probs(mc, g.wires, weights=W)
        for _, _, word in g.members:
            alone = S.MeasurementGroup(dict(word), [(0, 1.0, word)])
            pa = pq.probs(S.measured_circuit(c, alone.basis), alone.wires, weights=W)
            ev_g = S._per_shot_values(S.MeasurementGroup(g.basis, [(0, 1.0, word)]), S._outcome_bits(len(g.wires)),
                                      1)[:, 0]
            ev_a = S._per_shot_values(alone, S._outcome_bits(len(alone.wires)), 1)[:, 0]
            plus_g, plus_a = p[ev_g > 0].sum(), pa[ev_a > 0].sum()
            assert abs(plus_g - plus_a) < 1e-10
            exact = _exact(pq.Observable({word: 1.0}))
            assert abs((2 * plus_g - 1) - exact) < 1e-10
            bits[word] = plus_g
    # Statistically too: grouped and term-by-term estimators over seeds have the same mean and spread.
    single = [pq.Observable({w: c}) for w, c in HAM.terms.items() if w]
    grouped = [pq.expval(c, HAM, weights=W, shots=400, seed=s) for s in range(150)]
    by_term = [sum(pq.expval(c, o, weights=W, shots=400, seed=1000 + 10 * s + k) for k, o in enumerate(single)) + 0.7
               for s in range(150)]
    se = np.std(grouped) / np.sqrt(150)
    assert abs(np.mean(grouped) - np.mean(by_term)) < 5 * se * np.sqrt(2)
    # Same-group words share shots, so their covariances enter: the spreads agree within sampling error.
    assert 0.6 < np.std(grouped) / np.std(by_term) < 1.6


def test_estimate_within_four_standard_errors_and_stderr_is_honest():
    c = _circuit()
    exact = _exact(HAM)
    est = pq.shot_estimate(c, HAM, shots=20000, seed=5, weights=W)
    assert abs(est.values - exact) < 4 * est.stderr
    # The reported standard error matches the spread over seeds.
    vals = np.array([pq.expval(c, HAM, weights=W, shots=500, seed=s) for s in range(300)])
    se500 = pq.shot_estimate(c, HAM, shots=500, seed=1, weights=W).stderr
    assert 0.8 < np.std(vals) / se500 < 1.25


def test_mean_over_seeds_converges_with_inverse_sqrt_shots():
    c = _circuit()
    exact = _exact(HAM)
    spreads = {}
    for shots in (100, 1600):
        vals = np.array([pq.expval(c, HAM, weights=W, shots=shots, seed=s) for s in range(300)])
        assert abs(vals.mean() - exact) < 4 * vals.std() / np.sqrt(len(vals))
        spreads[shots] = vals.std()
    ratio = spreads[100] / spreads[1600]  # sqrt(1600 / 100) = 4
    assert 3.2 < ratio < 5.0


def test_reproducible_per_seed_and_shot_vectors():
    c = _circuit()
    a = pq.expval(c, [HAM, pq.Z(0)], weights=W, shots=300, seed=11)
    b = pq.expval(c, [HAM, pq.Z(0)], weights=W, shots=300, seed=11)
    d = pq.expval(c, [HAM, pq.Z(0)], weights=W, shots=300, seed=12)
    assert np.array_equal(a, b) and not np.array_equal(a, d)
    vec = pq.expval(c, HAM, weights=W, shots=[10, 100, 1000], seed=3)
    assert isinstance(vec, tuple) and len(vec) == 3
    # Single-shot estimates of <Z0> are +-1.
    z = pq.expval(c, pq.Z(0), weights=W, shots=[1, 1, 1], seed=0)
    assert all(abs(abs(v) - 1) < 1e-12 for v in z)
    # The exact path stays the default.
    assert pq.expval(c, HAM, weights=W) == pq.expval(c, HAM, weights=W)


def test_probs_from_shots_pass_chi_square():
    stats = pytest.importorskip("scipy.stats")
    c = _circuit()
    exact = ref.probs(_dense_state(W), [0, 1, 2], 3)
    freq = pq.probs(c, [0, 1, 2], weights=W, shots=5000, seed=2)
    assert abs(freq.sum() - 1) < 1e-12
    assert stats.chisquare(freq * 5000, exact * 5000).pvalue > 1e-3


def test_variance_from_shots():
    c = _circuit()
    for obs in (pq.Observable.pauli("X", 2), 0.5 * pq.Z(0) @ pq.Z(1) + 0.3 * pq.Z(1), HAM):
        m = obs.matrix(3)
        psi = _dense_state(W)
        exact = float(np.real(np.vdot(psi, m @ m @ psi) - np.vdot(psi, m @ psi) ** 2))
        est = pq.var(c, obs, weights=W, shots=40000, seed=4)
        assert abs(est - exact) < 0.03


def test_parameter_shift_gradients_from_shots():
    c = _circuit()
    _, exact, _ = pq.jacobian(c, [HAM], weights=W)
    vals, dw, _, vw = S.parameter_shift_jacobian(c, [HAM], W, None, 4000, np.random.default_rng(9))
    assert np.all(np.abs(dw[0] - exact) < 4 * np.sqrt(vw[0]))
    # The engine's exact gradient is the dense reference's (central differences).
    h = 1e-6
    for k in range(5):
        e = np.zeros(5)
        e[k] = h
        fd = (_exact(HAM, W + e) - _exact(HAM, W - e)) / (2 * h)
        assert abs(exact[0, k] - fd) < 1e-8


def test_qnode_shots_device_and_call_override():
    dev = pq.device("default.qubit", wires=3, shots=2000, seed=1)
    assert dev.method == "statevector"

    @pq.qnode(dev)
    def f(w):
        pq.RX(w[0], wires=0)
        pq.RY(w[1], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(0) @ pq.Z(1)), pq.expval(pq.X(1))

    w = np.array([0.4, 0.9])

    @pq.qnode(3)
    def g(w):
        pq.RX(w[0], wires=0)
        pq.RY(w[1], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(0) @ pq.Z(1)), pq.expval(pq.X(1))

    exact = np.array(g(w))
    first = np.array(f(w))
    assert not np.array_equal(first, np.array(f(w)))       # successive calls draw fresh shots
    assert np.all(np.abs(first - exact) < 0.1)
    vec = f(w, shots=[5, 50])
    assert len(vec) == 2 and len(vec[0]) == 2
    again = pq.qnode(pq.device("default.qubit", wires=3, shots=2000, seed=1))(f.func)
    assert np.array_equal(np.array(again(w)), first)         # the device's seed reproduces the sequence
    vals, dw, _ = f.jacobian(w)
    assert np.all(np.abs(dw - g.jacobian(w)[1]) < 0.15)


def test_sample_op_gives_eigenvalues():
    @pq.qnode(2, shots=4000, seed=2)
    def f(w):
        pq.RX(w, wires=0)
        pq.H(wires=1)
        return pq.sample(pq.Z(0)), pq.sample(pq.X(1) @ pq.Z(0)), pq.sample(wires=[0, 1])

    a, b, bits = f(np.array(0.8))
    assert a.shape == (4000,) and set(np.unique(a)) <= {-1.0, 1.0}
    assert abs(a.mean() - np.cos(0.8)) < 4 * np.sqrt((1 - np.cos(0.8) ** 2) / 4000)
    assert abs(b.mean() - np.cos(0.8)) < 4 * np.sqrt((1 - np.cos(0.8) ** 2) / 4000)   # <X1> = 1
    assert bits.shape == (4000, 2)
    # Today's measurement function still works: explicit shots and seed, no qnode shots needed.

    @pq.qnode(1)
    def h(w):
        pq.RX(w, wires=0)
        return pq.sample(wires=[0], shots=50, seed=3)

    assert h(np.array(0.1)).shape == (50, 1)

    # An exact qnode with a sample(op) of its own shots: the expectation stays exact.
    @pq.qnode(1)
    def m(w):
        pq.RX(w, wires=0)
        return pq.expval(pq.Z(0)), pq.sample(pq.Z(0), shots=20, seed=1)

    e, smp = m(np.array(0.3))
    assert abs(e - np.cos(0.3)) < 1e-12 and smp.shape == (20,)


def test_bad_input():
    c = _circuit()
    for bad in (0, -3, 2.5, 2.0, True, "100", []):
        with pytest.raises(ValueError, match="shots"):
            pq.expval(c, HAM, weights=W, shots=bad)
        with pytest.raises(ValueError, match="shots"):
            pq.qnode(2, shots=bad)(lambda w: pq.expval(pq.Z(0)))
    with pytest.raises(ValueError, match="shots"):
        pq.probs(c, [0], weights=W, shots=[10, 0])
    with pytest.raises(ValueError, match="unknown device"):
        pq.device("nonexistent.qubit", wires=2)
    with pytest.raises(ValueError, match="method"):
        pq.device("default.tensor", wires=2, method="no-such-method")

    @pq.qnode(2)
    def f(w):
        pq.RX(w, wires=0)
        return pq.sample(pq.Z(0))

    with pytest.raises(ValueError, match="needs finite shots"):
        f(np.array(0.3))

    @pq.qnode(2, shots=10)
    def g(w):
        pq.RX(w, wires=0)
        return pq.sample(pq.Z(0) + pq.X(0))

    with pytest.raises(ValueError, match="measurement bases"):
        g(np.array(0.3))

    @pq.qnode(2, shots=10)
    def s(w):
        pq.RX(w, wires=0)
        return pq.state()

    with pytest.raises(ValueError, match="finite shots"):
        s(np.array(0.3))


def test_optimisers_with_shot_noise():
    @pq.qnode(2, shots=300, seed=4)
    def cost(w):
        pq.RX(w[0], wires=0)
        pq.RY(w[1], wires=1)
        return pq.expval(pq.Z(0) + pq.Z(1))

    w = np.array([0.3, 0.2])
    opt = pq.GradientDescentOptimizer(0.3)
    for _ in range(40):
        w = opt.step(cost, w)
    assert cost(w, shots=20000) < -1.85          # minimum -2 at (pi, pi)
    spsa = pq.SPSAOptimizer(maxiter=150, seed=0)
    w = np.array([0.3, 0.2])
    for _ in range(150):
        w = spsa.step(cost, w)
    assert cost(w, shots=20000) < -1.7
    # Shots per step as a pass-through keyword on an exact qnode.

    @pq.qnode(2)
    def exact_cost(w):
        pq.RX(w[0], wires=0)
        return pq.expval(pq.Z(0))

    w1 = pq.GradientDescentOptimizer(0.1).step(exact_cost, np.array([0.5]), shots=50)
    w2 = pq.GradientDescentOptimizer(0.1).step(exact_cost, np.array([0.5]))
    assert w1.shape == (1,) and not np.array_equal(w1, w2)


def test_tensor_network_sampler_for_wide_sets():
    # A set spanning more than the probabilities' limit goes shot by shot through the method's sampler.
    n = S.PROBS_MAX_WIRES_STATEVECTOR + 1
    c = pq.Circuit(n)
    w = c.new_weights(n)
    with c:
        for i in range(n):
            pq.RY(w[i], wires=i)
        for i in range(n - 1):
            pq.CNOT(wires=[i, i + 1])
    ww = np.linspace(0.1, 0.5, n)
    obs = pq.Observable({tuple((i, "Z") for i in range(n)): 1.0}) + 0.5 * pq.X(0)
    exact = pq.expval(c, obs, weights=ww, method="statevector")
    for method in ("statevector", "tensornet"):
        est = pq.shot_estimate(c, obs, shots=3000, seed=1, weights=ww, method=method)
        assert abs(est.values - exact) < 4 * est.stderr
