"""The trajectories method against the dense density matrix (tests/noisy_reference.py): values and
gradients within 4 standard errors, gradients against central differences of the same seeded estimator,
reproducibility per seed and across thread counts, the noiseless limit, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from noisy_reference import NoisyCircuit

import pyqml as pq


def _circuit():
    """4 wires: an embedding of 2 inputs, weighted rotations and entanglers, and every kind of channel
    the unravelling treats differently (mixed-unitary ones and damping ones, one with a trainable
    parameter)."""
    W = lambda k: (1, k, 1.0, 0.0)  # noqa: E731
    C = lambda v: (0, 0, 1.0, v)  # noqa: E731
    ops = [
        ("RX", [0], [(2, 0, 1.3, 0.2)]), ("RX", [1], [(2, 1, -0.7, 0.1)]), ("RY", [2], [W(0)]),
        ("RY", [3], [W(1)]),
        ("DepolarizingChannel", [0], [C(0.1)]), ("AmplitudeDamping", [1], [C(0.2)]),
        ("CNOT", [0, 1], []), ("IsingZZ", [1, 2], [W(2)]), ("IsingXX", [2, 3], [W(3)]),
        ("GeneralizedAmplitudeDamping", [2], [C(0.15), C(0.3)]), ("PhaseDamping", [3], [C(0.25)]),
        ("PauliError", [0, 3], [C(0.1)], "XY"), ("BitFlip", [1], [C(0.05)]),
        ("RY", [0], [W(4)]), ("RX", [3], [W(5)]), ("CNOT", [3, 0], []),
        ("AmplitudeDamping", [0], [(1, 6, 0.1, 0.2)]), ("PhaseFlip", [2], [C(0.1)]),
        ("RZ", [1], [W(7)]), ("CZ", [1, 2], []), ("RX", [1], [W(8)]),
    ]
    return NoisyCircuit(4, ops, n_weights=9, n_inputs=2)


TERMS = [[(1.0, {0: "Z"})], [(0.5, {1: "Z", 2: "Z"}), (0.3, {3: "X"})], [(1.0, {0: "Y", 3: "Z"})]]


def _obs(terms):
    out = pq.Observable()
    for coeff, word in terms:
        p = None
        for w, letter in sorted(word.items()):
            f = {"X": pq.X, "Y": pq.Y, "Z": pq.Z}[letter](w)
            p = f if p is None else p @ f
        out = out + coeff * p
    return out


@pytest.fixture(scope="module")
def case():
    nc = _circuit()
    rng = np.random.default_rng(5)
    w = rng.uniform(-np.pi, np.pi, nc.n_weights)
    w[6] = rng.uniform(-1, 1)  # the damping rate 0.1 w + 0.2 stays in [0.1, 0.3]
    X = rng.uniform(-1, 1, (2, 2))
    exact = np.array([[nc.expval(t, w, xr) for t in TERMS] for xr in X])
    return nc, nc.circuit(), [_obs(t) for t in TERMS], w, X, exact


def _exact_gradient(nc, w, X):
    """d<O>/dw from the dense reference: the two-term shift for gate angles (weights 0-5, 7, 8), central
    differences for the damping rate (weight 6)."""
    g = np.zeros((len(X), len(TERMS), nc.n_weights))
    for k in range(nc.n_weights):
        h = 1e-5 if k == 6 else np.pi / 2
        wp, wm = w.copy(), w.copy()
        wp[k] += h
        wm[k] -= h
        for r, xr in enumerate(X):
            for o, t in enumerate(TERMS):
                d = nc.expval(t, wp, xr) - nc.expval(t, wm, xr)
                g[r, o, k] = d / (2 * h) if k == 6 else d / 2
    return g


def test_values_converge_to_the_density_matrix(case):
    nc, c, obs, w, X, exact = case
    ex = c.executor(obs, "trajectories", trajectories=4000, seed=3)
    mean, se = ex.expval_stderr(w, X)
    assert mean.shape == se.shape == (2, 3)
    # <Y0 Z3> vanishes on every trajectory (to rounding): only the first two have an error to speak of.
    assert np.all(se[:, :2] > 1e-4) and np.all(se < 0.05)
    assert np.all(np.abs(mean - exact) < 4 * se + 1e-12), (mean, exact, se)
    np.testing.assert_array_equal(ex.expval(w, X), mean)


def test_gradients_are_unbiased_and_match_the_seeded_estimator(case):
    nc, c, obs, w, X, exact = case
    ex = c.executor(obs, "trajectories", trajectories=3000, seed=8)
    (vals, dw, dx), (se, dw_se, dx_se) = ex.jacobian_stderr(w, X)
    np.testing.assert_allclose(vals, ex.expval(w, X), atol=1e-13, rtol=0)
    g = _exact_gradient(nc, w, X)
    live = dw_se > 0
    assert np.all(np.abs(dw - g)[live] < 4 * dw_se[live] + 1e-12)
    np.testing.assert_allclose(dw[~live], g[~live], atol=1e-10, rtol=0)
    # The seeded estimator is a smooth function of gate angles and inputs: its own central differences.
    small = c.executor(obs, "trajectories", trajectories=50, seed=1)
    (_, sdw, sdx), _ = small.jacobian_stderr(w, X)
    h = 1e-5
    for k in [0, 2, 3, 5, 8]:
        wp, wm = w.copy(), w.copy()
        wp[k] += h
        wm[k] -= h
        fd = (small.expval(wp, X) - small.expval(wm, X)) / (2 * h)
        np.testing.assert_allclose(sdw[:, :, k], fd, atol=1e-8, rtol=0)
    for j in range(2):
        xp, xm = X.copy(), X.copy()
        xp[:, j] += h
        xm[:, j] -= h
        fd = (small.expval(w, xp) - small.expval(w, xm)) / (2 * h)
        np.testing.assert_allclose(sdx[:, :, j], fd, atol=1e-8, rtol=0)


def test_vjp_is_the_cotangent_times_the_jacobian(case):
    _, c, obs, w, X, _ = case
    ex = c.executor(obs, "trajectories", trajectories=20, seed=2)
    vals, dw, dx = ex.jacobian(w, X)
    cot = np.random.default_rng(0).normal(size=vals.shape)
    v, gw, gx = ex.vjp(w, X, cot)
    np.testing.assert_array_equal(v, vals)
    np.testing.assert_allclose(gw, np.einsum("ro,row->w", cot, dw), atol=1e-12, rtol=0)
    np.testing.assert_allclose(gx, np.einsum("ro,rox->rx", cot, dx), atol=1e-12, rtol=0)


def test_reproducible_per_seed_and_thread_count(case):
    _, c, obs, w, X, _ = case
    a = c.executor(obs, "trajectories", trajectories=64, seed=7).jacobian_stderr(w, X)
    before = pq.get_num_threads()
    try:
        pq.set_num_threads(1)
        b = c.executor(obs, "trajectories", trajectories=64, seed=7).jacobian_stderr(w, X)
    finally:
        pq.set_num_threads(before)
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(x, y)
    other = c.executor(obs, "trajectories", trajectories=64, seed=8).expval(w, X)
    assert not np.array_equal(other, a[0][0])


def test_noiseless_circuit_is_the_state_vector_with_zero_error():
    c = pq.Circuit(3)
    w = c.new_weights(3)
    with c:
        for i in range(3):
            pq.RY(w[i], wires=i)
        pq.CNOT(wires=[0, 1])
        pq.CRX(w[0], wires=[1, 2])
    obs = [pq.Z(0) @ pq.Z(1), pq.X(2)]
    wv = np.array([0.3, -1.1, 2.0])
    (v, dw, _), (se, dse, _) = c.executor(obs, "trajectories", trajectories=5).jacobian_stderr(wv)
    sv, sdw, _ = c.executor(obs, "statevector").jacobian(wv)
    np.testing.assert_allclose(v, sv, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw, sdw, atol=1e-12, rtol=0)
    assert np.all(se == 0) and np.all(dse == 0)


def test_expval_with_stderr_through_the_measurement_function(case):
    _, c, obs, w, X, exact = case
    vals, se = pq.expval(c, obs, weights=w, inputs=X, method="trajectories", trajectories=500, seed=4,
                         return_stderr=True)
    assert vals.shape == se.shape == (2, 3)
    assert np.all(np.abs(vals - exact) < 4 * se + 1e-12)


def test_bad_input(case):
    _, c, obs, w, X, _ = case
    with pytest.raises(ValueError, match="trajectories must be a positive integer"):
        c.executor(obs, "trajectories", trajectories=0)
    with pytest.raises(ValueError, match="seed"):
        c.executor(obs, "trajectories", seed=-1)
    with pytest.raises(ValueError, match="does not take the option 'trajectories'"):
        c.executor(obs, "statevector", trajectories=10)
    with pytest.raises(ValueError, match="return_stderr"):
        pq.expval(c, obs, weights=w, inputs=X, method="tensornet", return_stderr=True)
    ex = c.executor(obs, "trajectories", trajectories=4)
    with pytest.raises(ValueError, match="cannot compute state"):
        pq.state(c, weights=w, inputs=X[0], method="trajectories")
    assert ex.n_trajectories == 4


def _fusion_circuit(noisy):
    """5 wires: single-wire gates and channels before, between and after two-wire gates, a 3-wire barrier
    (Toffoli), a 2-wire channel, diagonal two-wire gates."""
    cc = pq.Circuit(5)
    wt = cc.new_weights(12)
    with cc:
        for i in range(5):
            pq.RY(wt[i], wires=i)
        pq.CNOT(wires=[0, 1])
        if noisy:
            pq.DepolarizingChannel(0.3, wires=1)
        pq.RX(wt[5], wires=1)
        pq.Toffoli(wires=[1, 2, 3])
        pq.RZ(wt[6], wires=2)
        if noisy:
            pq.AmplitudeDamping(0.4, wires=3)
        pq.CZ(wires=[3, 4])
        if noisy:
            pq.PauliError("XY", 0.3, wires=[4, 0])
        pq.RY(wt[7], wires=4)
        pq.IsingZZ(wt[8], wires=[2, 4])
        pq.PhaseShift(wt[9], wires=0)
        if noisy:
            pq.BitFlip(0.2, wires=0)
        pq.CRX(wt[10], wires=[0, 2])
        pq.RX(wt[11], wires=3)
    return cc


def test_fused_forward_equals_the_op_by_op_forward(case):
    """Without gradients a trajectory's single-wire ops are fused into the two-wire ops next to them; with
    gradients every op is applied as it comes. The Kraus choices depend on the seed only, so both give the
    same trajectories: equal means and standard errors up to rounding. Noiseless, the fused forward is the
    state vector."""
    _, c, obs, w, X, _ = case
    ex = c.executor(obs, "trajectories", trajectories=300, seed=11)
    m1, s1 = ex.expval_stderr(w, X)
    (m2, _, _), (s2, _, _) = ex.jacobian_stderr(w, X)
    np.testing.assert_allclose(m1, m2, atol=1e-12, rtol=0)
    np.testing.assert_allclose(s1, s2, atol=1e-12, rtol=0)
    assert s1.max() > 1e-3  # the trajectories differ: the choices are not all the identity
    o = [pq.Z(0) @ pq.Z(2), pq.X(3) + 0.5 * pq.Y(4), pq.Z(1)]
    wv = np.random.default_rng(4).uniform(-np.pi, np.pi, 12)
    ex = _fusion_circuit(True).executor(o, "trajectories", trajectories=200, seed=3)
    m1, s1 = ex.expval_stderr(wv)
    (m2, _, _), (s2, _, _) = ex.jacobian_stderr(wv)
    np.testing.assert_allclose(m1, m2, atol=1e-12, rtol=0)
    np.testing.assert_allclose(s1, s2, atol=1e-12, rtol=0)
    assert s1.max() > 1e-3
    clean = _fusion_circuit(False)
    np.testing.assert_allclose(clean.executor(o, "trajectories", trajectories=3).expval(wv),
                               clean.executor(o, "statevector").expval(wv), atol=1e-12, rtol=0)
