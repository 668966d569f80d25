"""Barren-plateau studies: per-sample gradients against analytic derivatives, the batched per-row path
against single calls, and the variance trend of local vs global costs."""
import numpy as np
import pytest
from pyqml.studies import cost_observable, gradient_samples, gradient_variance

import pyqml as pq


def ry_layer(weights, wires):
    for i, w in enumerate(wires):
        pq.RY(weights[0, i], wires=w)


ry_layer.shape = lambda n_layers, n: (1, n)


@pytest.mark.parametrize("cost", ["local", "global"])
def test_samples_match_analytic_derivative(cost):
    n = 4
    g, th = gradient_samples(ry_layer, n, 1, cost, n_samples=50, method="statevector")
    if cost == "local":  # C = (1/n) sum cos(theta_j)
        ref = -np.sin(th[:, 0]) / n
    else:  # C = prod cos(theta_j)
        ref = -np.sin(th[:, 0]) * np.prod(np.cos(th[:, 1:]), axis=1)
    np.testing.assert_allclose(g, ref, atol=1e-12)


def test_batched_rows_equal_single_calls():
    g, th = gradient_samples("hardware_efficient", 3, 2, "global", n_samples=5, param_index="all",
                             method="statevector")
    c = pq.Circuit(3)
    w = c.new_weights(2, 3, 2)
    with c:
        pq.HardwareEfficientAnsatz(w, wires=range(3))
    for s in range(5):
        _, dw, _ = pq.jacobian(c, cost_observable(3, "global"), weights=th[s], method="statevector")
        np.testing.assert_allclose(g[s], dw, atol=1e-12)


def test_global_cost_decays_faster(tmp_path):
    # fixed depth: the local cost's variance falls only as its 1/n^2 prefactor, the global one exponentially
    kw = {"n_qubits": [2, 4, 6, 8], "n_layers": 2, "n_samples": 300, "method": "statevector"}
    loc = gradient_variance("hardware_efficient", cost="local", **kw)
    glo = gradient_variance("hardware_efficient", cost="global", plot=str(tmp_path / "bp.png"), **kw)
    assert glo["decay_rate"] < -0.5 and glo["decay_rate"] < loc["decay_rate"] - 0.1
    scaled = np.array(loc["variance"]) * np.array(kw["n_qubits"]) ** 2
    assert scaled.max() < 2 * scaled.min()
    try:
        import matplotlib  # noqa: F401
        assert glo["plot"] and (tmp_path / "bp.png").stat().st_size > 1000
    except ImportError:
        assert glo["plot"] is None
    # product-state ansatz: Var = 1/(2 n^2) (local) and 2^-n (global), within sampling error
    r = gradient_variance(ry_layer, n_qubits=[2, 4], n_layers=1, cost="global", n_samples=4000, method="statevector")
    np.testing.assert_allclose(r["variance"], [0.25, 1 / 16], rtol=0.15)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cost"):
        gradient_variance(cost="medium", n_qubits=[2])
    with pytest.raises(ValueError, match="ansatz"):
        gradient_variance("qcnn", n_qubits=[2])
    with pytest.raises(ValueError, match="param_index"):
        gradient_samples("basic_entangler", 2, 1, param_index=99)
    with pytest.raises(ValueError, match="n_samples"):
        gradient_samples(n_samples=1)


def test_tensornet_samples_equal_statevector():
    if "tensornet" not in pq.execution.available_methods():
        pytest.skip("tensor-network method not built")
    kw = {"n_layers": 2, "cost": "local", "n_samples": 8, "param_index": "all"}
    g_tn, th = gradient_samples("hardware_efficient", 10, method="tensornet", **kw)
    g_sv, th2 = gradient_samples("hardware_efficient", 10, method="statevector", **kw)
    np.testing.assert_array_equal(th, th2)
    np.testing.assert_allclose(g_tn, g_sv, atol=1e-10)
    r = gradient_variance("hardware_efficient", n_qubits=[40], n_layers=2, n_samples=10, method="auto")
    assert r["variance"][0] > 0
