"""method="auto" and the MPS on global quantities of wide shallow circuits: the fidelity kernel and the global
cost's gradients at 50-60 qubits against the tensor network and analytic values; refusals by name."""
import numpy as np
import pytest
from pyqml.sklearn import QuantumKernel

import pyqml as pq
from pyqml import _core
from pyqml.frontend.execution import choose_method, method_class
from pyqml.qml.studies import gradient_samples, gradient_variance


def chain_map(x, wires):
    """A 1-D feature map: H and RZ(x_j) on every wire, CZ on the even then the odd neighbours, RY(x_j)."""
    for j, w in enumerate(wires):
        pq.H(wires=w)
        pq.RZ(x[j], wires=w)
    for start in (0, 1):
        for j in range(start, len(wires) - 1, 2):
            pq.CZ(wires=[wires[j], wires[j + 1]])
    for j, w in enumerate(wires):
        pq.RY(x[j], wires=w)


def chain_map_inverse(x, wires):
    for j, w in enumerate(wires):
        pq.RY(-1.0 * x[j], wires=w)
    for start in (1, 0):
        for j in range(start, len(wires) - 1, 2):
            pq.CZ(wires=[wires[j], wires[j + 1]])
    for j, w in enumerate(wires):
        pq.RZ(-1.0 * x[j], wires=w)
        pq.H(wires=w)


def test_quantum_kernel_at_60_features_through_auto_matches_the_tensor_network():
    n = 60
    rng = np.random.default_rng(21)
    X = rng.normal(size=(3, n))
    K = QuantumKernel(feature_map=chain_map)(X)
    # <phi(y)|phi(x)> = <0|U(y)^dagger U(x)|0>: one amplitude of the tensor network per pair
    c = pq.Circuit(n)
    xy = c.new_inputs(2 * n)
    with c:
        chain_map(xy[:n], list(range(n)))
        chain_map_inverse(xy[n:], list(range(n)))
    ex = c.executor([], "tensornet", measurement="amplitude")
    pairs = np.array([np.concatenate([X[i], X[j]]) for i in range(3) for j in range(3)])
    ref = np.abs(ex.amplitude(np.zeros(0), pairs, [0] * n)) ** 2
    np.testing.assert_allclose(K, ref.reshape(3, 3), atol=1e-10)
    assert np.all(K[~np.eye(3, dtype=bool)] < 0.999)  # the entries are not trivially 1


def test_quantum_kernel_product_map_at_120_features_is_analytic():
    rng = np.random.default_rng(22)
    X, Y = rng.normal(size=(4, 120)), rng.normal(size=(2, 120))
    K = QuantumKernel(feature_map="angle")(X, Y)  # RX(x_j) on every wire: prod_j cos^2((x_j - y_j) / 2)
    ref = np.prod(np.cos((X[:, None, :] - Y[None, :, :]) / 2) ** 2, axis=2)
    np.testing.assert_allclose(K, ref, atol=1e-12)


def test_quantum_kernel_auto_prefers_the_mps_for_a_shallow_chain_on_16_features():
    rng = np.random.default_rng(23)
    X = rng.normal(size=(3, 16))
    k = QuantumKernel(feature_map=chain_map)
    assert k._use_mps(X)  # 2^16 amplitudes per row against bond dimension 4
    np.testing.assert_allclose(k(X), QuantumKernel(feature_map=chain_map, method="statevector")(X), atol=1e-10)
    assert not QuantumKernel(feature_map="iqp")._use_mps(rng.normal(size=(3, 8)))  # all-to-all ZZ: the states


def small_angle_ansatz(weights, wires):
    """RY(0.02 w) on every wire, then a CZ ladder, per layer: near |0...0>, so the global cost's gradients
    stay above 1e-4 at 60 qubits (at uniform angles they concentrate below 1e-12)."""
    for layer in range(weights.shape[0]):
        for j, w in enumerate(wires):
            pq.RY(0.02 * weights[layer, j], wires=w)
        for j in range(len(wires) - 1):
            pq.CZ(wires=[wires[j], wires[j + 1]])


def test_global_cost_gradients_at_50_and_60_qubits_through_auto():
    shape = lambda layers, n: (layers, n)  # noqa: E731
    for n in (50, 60):
        args = (small_angle_ansatz, n, 2, "global", 3, "all")
        g_auto, th = gradient_samples(*args, seed=n, shape=shape)
        g_tn, _ = gradient_samples(*args, seed=n, method="tensornet", shape=shape)
        g_mps, _ = gradient_samples(*args, seed=n, method="mps", shape=shape)
        np.testing.assert_allclose(g_auto, g_tn, atol=1e-10)
        np.testing.assert_allclose(g_mps, g_tn, atol=1e-10)
        assert np.abs(g_tn).max() > 1e-4
    out = gradient_variance(small_angle_ansatz, (50, 60), 2, "global", n_samples=3, shape=shape)
    assert all(np.isfinite(v) and v > 0 for v in out["variance"])


def test_auto_takes_the_mps_for_probs_and_samples_of_many_wires_and_the_tensor_network_for_local_values():
    n = 60
    c = pq.Circuit(n)
    w = c.new_weights(n)
    with c:
        for q in range(n):
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
    wires = list(range(0, n, 3))
    assert choose_method(c, [], "complex128", "probs", wires=wires) == "mps"
    assert choose_method(c, [], "complex128", "sample", wires=list(range(n)), shots=1000) == "mps"
    assert choose_method(c, [pq.Z(7)], "complex128", "expval") == "tensornet"
    theta = np.random.default_rng(24).uniform(-np.pi, np.pi, n)
    p = pq.probs(c, wires=[0, 1, 59], weights=theta)  # auto: TN for three wires or the MPS, the same numbers
    np.testing.assert_allclose(p, pq.probs(c, wires=[0, 1, 59], weights=theta, method="mps"), atol=1e-12)


def test_global_quantities_whose_bond_dimension_cannot_fit_are_refused_by_name():
    n, layers = 80, 40
    rng = np.random.default_rng(25)
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
                    pq.CNOT(wires=[q, q + 1])
    theta = rng.uniform(-np.pi, np.pi, 2 * n * layers)
    glob = pq.Observable({tuple((q, "Z") for q in range(n)): 1.0})
    ex = c.executor([glob], "mps")
    for call in (lambda: ex.expval(theta), lambda: ex.jacobian(theta), lambda: ex.probs(theta, None, [0, 1]),
                 lambda: ex.sample(theta, None, list(range(n)), 10, 0), lambda: ex.amplitude(theta, None, [0] * n)):
        with pytest.raises(_core.MemoryLimitError, match="bond dimension"):
            call()
    with pytest.raises(_core.MemoryLimitError, match="mps overlaps"):
        ex.overlaps(theta, None)
    est = method_class("mps").overlap_estimate(c, 2, 2)
    assert not est.feasible and "max_bond" in est.reason
    # every method refuses the probabilities of all 80 wires: one error with each method's reason
    with pytest.raises(_core.MemoryLimitError, match="mps:.*bond dimension"):
        choose_method(c, [], "complex128", "probs", wires=list(range(n)))
    with pytest.raises(ValueError, match="max_bond"):
        c.executor([glob], "mps", max_bond=0)
    with pytest.raises(ValueError, match="cutoff"):
        c.executor([glob], "mps", cutoff=-1.0)
    with pytest.raises(ValueError, match="max_bond"):
        QuantumKernel(feature_map=chain_map, method="mps", max_bond=0)(rng.normal(size=(2, 30)))
