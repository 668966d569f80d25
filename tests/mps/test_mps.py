"""The MPS method against the state vector, the dense reference, finite differences and the tensor network."""
import dense_reference as ref
import numpy as np
import pytest
from pyqml.sklearn import QuantumKernel
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core
from pyqml.frontend.execution import method_class


def brickwork(n, layers, rng, entangler="CNOT"):
    """A 1-D brickwork: RY, RZ on every wire (weights), then the entangler on (i, i+1), even then odd bonds."""
    c = pq.Circuit(n)
    w = c.new_weights(2 * n * layers)
    k = 0
    with c:
        for _ in range(layers):
            for q in range(n):
                pq.RY(w[k], wires=q)
                pq.RZ(w[k + 1], wires=q)
                k += 2
            for start in (0, 1):
                for q in range(start, n - 1, 2):
                    pq.GATES[entangler](wires=[q, q + 1])
    return c, rng.uniform(-np.pi, np.pi, size=2 * n * layers)


def local_circuit(n, n_gates, rng, n_inputs=2):
    """A random circuit whose gates act on neighbouring wires only (1-D)."""
    rc = RandomCircuit(n, n_gates, rng, n_inputs=n_inputs)
    spec = []
    for name, wires, params, U in rc.spec:
        k = len(wires)
        lo = int(rng.integers(0, n - k + 1))
        spec.append((name, [lo + j for j in rng.permutation(k)], params, U))
    rc.spec = spec
    return rc


@pytest.mark.parametrize("n,layout,seed", [(4, "all", 0), (7, "all", 1), (10, "all", 2), (12, "1d", 3),
                                           (16, "1d", 4)])
def test_values_probs_amplitudes_and_gradients_match_the_state_vector(n, layout, seed):
    rng = np.random.default_rng(seed)
    n_gates = 4 * n
    rc = RandomCircuit(n, n_gates, rng, n_inputs=2) if layout == "all" else local_circuit(n, n_gates, rng)
    c = rc.circuit()
    obs, _ = random_pauli_sum(n, rng)
    obs_list = [obs, pq.Z(0) @ pq.Z(n - 1), pq.Observable({tuple((q, "X") for q in range(n)): 1.0})]
    w = rng.normal(size=rc.n_weights)
    x = rng.normal(size=(2, 2))
    sv = c.executor(obs_list, "statevector")
    ex = c.executor(obs_list, "mps")
    np.testing.assert_allclose(ex.expval(w, x), sv.expval(w, x), atol=1e-10)
    assert ex.last_info.exact and np.all(ex.last_info.fidelity >= 1 - 1e-15)
    for a, b in zip(ex.jacobian(w, x), sv.jacobian(w, x)):
        np.testing.assert_allclose(a, b, atol=1e-10)
    cot = rng.normal(size=(2, 3))
    for a, b in zip(ex.vjp(w, x, cot), sv.vjp(w, x, cot)):
        np.testing.assert_allclose(a, b, atol=1e-10)
    wires = [int(v) for v in rng.permutation(n)[:3]]
    np.testing.assert_allclose(ex.probs(w, x, wires), sv.probs(w, x, wires), atol=1e-12)
    states = sv.state(w, x)
    bits = [int(v) for v in rng.integers(0, 2, n)]
    np.testing.assert_allclose(ex.amplitude(w, x, bits), states[:, int("".join(map(str, bits)), 2)], atol=1e-12)


def test_dense_reference_and_complex64():
    rng = np.random.default_rng(11)
    rc = RandomCircuit(6, 30, rng)
    c = rc.circuit()
    obs, terms = random_pauli_sum(6, rng)
    w = rng.normal(size=rc.n_weights)
    expect = ref.expval_var(terms, rc.state(w), 6)[0]
    assert abs(pq.expval(c, obs, weights=w, method="mps") - expect) < 1e-10
    assert abs(pq.expval(c, obs, weights=w, method="mps", precision="complex64") - expect) < 1e-4
    _, dw = pq.jacobian(c, obs, weights=w, method="mps", precision="complex64")[:2]
    _, dw_sv = pq.jacobian(c, obs, weights=w, method="statevector")[:2]
    np.testing.assert_allclose(dw, dw_sv, atol=1e-3)


def test_samples_follow_the_distribution():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    rc = RandomCircuit(5, 25, rng)
    c = rc.circuit()
    w = rng.normal(size=rc.n_weights)
    p = pq.probs(c, wires=[0, 2, 4], weights=w, method="statevector")
    shots = 6000
    s = pq.sample(c, wires=[0, 2, 4], shots=shots, seed=3, weights=w, method="mps")
    again = pq.sample(c, wires=[0, 2, 4], shots=shots, seed=3, weights=w, method="mps")
    np.testing.assert_array_equal(s, again)
    idx = s @ np.array([4, 2, 1])
    counts = np.bincount(idx, minlength=8)
    keep = p * shots > 5
    chi2 = np.sum((counts[keep] - shots * p[keep]) ** 2 / (shots * p[keep]))
    assert chi2 < stats.chi2.ppf(0.9999, keep.sum() - 1)


def test_truncation_converges_and_the_reported_bound_holds():
    rng = np.random.default_rng(7)
    n = 14
    c, w = brickwork(n, 5, rng, "CNOT")
    obs = [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.Z(3) @ pq.Z(10)]
    exact = c.executor(obs, "statevector").expval(w)[0]
    errors = []
    for chi in (2, 4, 8, 16, 32, 64, 128):
        ex = c.executor(obs, "mps", max_bond=chi)
        val = ex.expval(w)[0]
        info = ex.last_info
        err = np.abs(val - exact).max()
        errors.append(err)
        assert err <= 2 * info.error_bound[0] + 1e-12  # ||Z..Z|| = 1
        assert info.max_bond[0] <= chi
        assert 0 <= info.discarded_weight[0] and info.fidelity[0] <= 1
    assert errors[-1] < 1e-10 and errors[0] > 1e-6
    assert errors[-2] <= errors[1]


def test_truncated_gradients_match_finite_differences_of_the_truncated_simulation():
    rng = np.random.default_rng(9)
    n = 8
    c, w = brickwork(n, 3, rng, "CNOT")
    obs = [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.X(2) @ pq.Y(5) + 0.3 * pq.Z(4)]
    ex = c.executor(obs, "mps", max_bond=3)
    vals, dw, _ = ex.jacobian(w)
    assert not ex.last_info.exact  # the truncation is real
    np.testing.assert_allclose(vals, ex.expval(w), atol=1e-12)
    h = 1e-5
    for k in rng.permutation(len(w))[:12]:
        e = np.zeros_like(w)
        e[k] = h
        fd = (ex.expval(w + e) - ex.expval(w - e)) / (2 * h)
        np.testing.assert_allclose(dw[0, :, k], fd[0], atol=2e-7)
    exact_dw = c.executor(obs, "statevector").jacobian(w)[1]
    assert np.abs(dw - exact_dw).max() > 1e-4  # the truncated derivative, not the exact one


def test_ghz_100_qubits():
    n = 100
    c = pq.Circuit(n)
    with c:
        pq.H(wires=0)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
        pq.CNOT(wires=[0, n - 1])
        pq.CNOT(wires=[0, n - 1])  # a long-range pair through the swap network
    w = np.zeros(0)
    ex = c.executor([pq.Z(0) @ pq.Z(99), pq.Observable({tuple((q, "X") for q in range(n)): 1.0}), pq.Z(50)], "mps")
    np.testing.assert_allclose(ex.expval(w)[0], [1, 1, 0], atol=1e-12)
    assert ex.last_info.max_bond[0] == 2
    p = ex.probs(w, None, [0, 50, 99])[0]
    np.testing.assert_allclose(p, [0.5, 0, 0, 0, 0, 0, 0, 0.5], atol=1e-12)
    assert abs(ex.amplitude(w, None, [1] * n)[0] - 2**-0.5) < 1e-12
    s = ex.sample(w, None, list(range(n)), 200, 1)[0]
    assert np.all(s == s[:, :1]) and 0 < s[:, 0].sum() < 200
    np.testing.assert_allclose(ex.entropies(w)[0], np.log(2), atol=1e-12)


def test_200_qubit_brickwork_local_values_match_the_tensor_network():
    rng = np.random.default_rng(12)
    n = 200
    c, w = brickwork(n, 2, rng, "CZ")
    obs = [pq.Z(0), pq.X(57) @ pq.X(58), pq.Z(199) @ pq.Y(198), pq.Y(100)]
    mps = c.executor(obs, "mps").expval(w)
    tn = c.executor(obs, "tensornet").expval(w)
    np.testing.assert_allclose(mps, tn, atol=1e-10)


def test_entropies_and_overlaps_match_the_state_vector():
    rng = np.random.default_rng(13)
    n = 7
    rc = RandomCircuit(n, 30, rng, n_inputs=2)
    c = rc.circuit()
    w = rng.normal(size=rc.n_weights)
    xa, xb = rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    sv = c.executor([], "statevector")
    ex = c.executor([], "mps")
    sa, sb = sv.state(w, xa), sv.state(w, xb)
    np.testing.assert_allclose(ex.overlaps(w, xa, xb), sa.conj() @ sb.T, atol=1e-12)
    ent = ex.entropies(w, xa)
    for r in range(3):
        for cut in range(n - 1):
            sv_ = np.linalg.svd(sa[r].reshape(2 ** (cut + 1), -1), compute_uv=False) ** 2
            sv_ = sv_[sv_ > 1e-30]
            assert abs(ent[r, cut] + np.sum(sv_ * np.log(sv_))) < 1e-10


def test_quantum_kernel_through_the_mps():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(4, 6))
    k_sv = QuantumKernel(feature_map="iqp")(X)
    k_mps = QuantumKernel(feature_map="iqp", method="mps")(X)
    np.testing.assert_allclose(k_mps, k_sv, atol=1e-12)
    big = QuantumKernel(feature_map="angle", method="mps")(rng.normal(size=(3, 60)))
    assert big.shape == (3, 3) and np.allclose(np.diag(big), 1)


def test_bad_input_is_refused():
    rng = np.random.default_rng(15)
    c, w = brickwork(6, 2, rng)
    with pytest.raises(ValueError, match="max_bond"):
        c.executor([pq.Z(0)], "mps", max_bond=0)
    with pytest.raises(TypeError, match="max_bond"):
        c.executor([pq.Z(0)], "mps", max_bond=2.5)
    with pytest.raises(ValueError, match="cutoff"):
        c.executor([pq.Z(0)], "mps", cutoff=-1e-3)
    with pytest.raises(ValueError, match="cutoff_mode"):
        c.executor([pq.Z(0)], "mps", cutoff_mode="sideways")
    big, wb = brickwork(80, 40, rng)
    with pytest.raises(_core.MemoryLimitError, match="bond dimension"):
        big.executor([pq.Z(0)], "mps").expval(wb)
    mps = method_class("mps")
    est = mps.estimate(big, [pq.Z(0)], "expval", "complex128")
    assert not est.feasible and "max_bond" in est.reason
    assert mps.estimate(big, [pq.Z(0)], "expval", "complex128", max_bond=8).feasible
