"""Exact MPS gradients on the three routes the adjoint takes without truncation: reverse mode through the
well-conditioned splits, the adjoint sweep on states, and the sweep handing over to reverse mode part way
(the CZ-ladder HEA, whose last layer has Schmidt values ~1e-8 of the largest), against the state vector."""
import numpy as np

import pyqml as pq


def hea(n, layers, with_inputs=False, scale=1.0):
    """RY, RZ on every wire (weights; RX(input) before the first layer), then a CZ ladder, per layer."""
    c = pq.Circuit(n)
    w = c.new_weights(2 * n * layers)
    x = c.new_inputs(n) if with_inputs else None
    k = 0
    with c:
        for layer in range(layers):
            for q in range(n):
                if with_inputs and layer == 0:
                    pq.RX(x[q], wires=q)
                pq.RY(scale * w[k], wires=q)
                pq.RZ(scale * w[k + 1], wires=q)
                k += 2
            for q in range(n - 1):
                pq.CZ(wires=[q, q + 1])
    return c


def observables(n):
    return [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.X(2) @ pq.Y(n - 3) + 0.4 * pq.Z(n // 2),
            pq.Observable({tuple((q, "X") for q in range(n)): 0.5})]


def compare(c, obs, w, x=None, cot=None):
    ex, sv = c.executor(obs, "mps"), c.executor(obs, "statevector")
    vals, dw, dx = ex.jacobian(w, x)
    assert ex.last_info.exact
    v2, dw2, dx2 = sv.jacobian(w, x)
    np.testing.assert_allclose(vals, v2, atol=1e-12)
    np.testing.assert_allclose(dw, dw2, atol=1e-10)
    np.testing.assert_allclose(dx, dx2, atol=1e-10)
    if cot is not None:
        for a, b in zip(ex.vjp(w, x, cot), sv.vjp(w, x, cot)):
            np.testing.assert_allclose(a, b, atol=1e-10)
    return dw


def test_hea_gradients_through_the_ill_conditioned_last_layer():
    rng = np.random.default_rng(31)
    n, layers = 14, 4
    c = hea(n, layers, with_inputs=True)
    w = rng.uniform(-np.pi, np.pi, 2 * n * layers)
    x = rng.uniform(-1, 1, (2, n))
    dw = compare(c, observables(n), w, x, cot=rng.normal(size=(2, 3)))
    assert np.abs(dw).max() > 1e-2


def test_well_conditioned_circuits_and_special_angles():
    rng = np.random.default_rng(32)
    for n, layers, scale in ((10, 2, 1.0), (12, 3, 0.3), (9, 3, 1.0)):
        c = hea(n, layers, scale=scale)
        compare(c, observables(n), rng.uniform(-np.pi, np.pi, 2 * n * layers))
    c = hea(8, 3)
    obs = observables(8)
    # zero angles (ranks below the generic ones: no split is differentiated there) and angles at pi / 2
    compare(c, obs, np.zeros(48))
    compare(c, obs, np.full(48, np.pi / 2))
    w = rng.uniform(-np.pi, np.pi, 48)
    w[::5] = 0.0
    compare(c, obs, w)


def test_brickwork_with_long_range_gates_and_fixed_unitaries():
    rng = np.random.default_rng(33)
    n = 9
    c = pq.Circuit(n)
    w = c.new_weights(4 * n)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    with c:
        for layer in range(2):
            for j in range(n):
                pq.RX(w[2 * n * layer + 2 * j], wires=j)
                pq.RY(w[2 * n * layer + 2 * j + 1], wires=j)
            for j in range(0, n - 1, 2):
                pq.CNOT(wires=[j, j + 1])
            pq.QubitUnitary(q, wires=[1, 6])
            pq.CRX(w[3], wires=[8, 0])
            pq.IsingXX(w[5], wires=[2, 7])
    compare(c, observables(n), rng.uniform(-np.pi, np.pi, 4 * n), cot=None)
