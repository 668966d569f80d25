"""Optimisers: each update checked against hand-computed numbers on analytic objectives; QNG's metric
tensor against the Fubini-Study metric from finite differences of the state; the scipy bridge; bad
hyper-parameters."""
import math

import numpy as np
import pytest
from pyqml.optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    NesterovMomentumOptimizer,
    QNGOptimizer,
    RMSPropOptimizer,
    RotosolveOptimizer,
    ScipyOptimizer,
    SPSAOptimizer,
    metric_tensor,
)

import pyqml as pq


def sq(x):
    return float(np.sum(x ** 2))


def sq_grad(x):
    return 2 * x


def test_gradient_descent_hand_values():
    opt = GradientDescentOptimizer(stepsize=0.1)
    x, cost = opt.step_and_cost(sq, np.array([1.0, -2.0]), grad_fn=sq_grad)
    np.testing.assert_allclose(x, [0.8, -1.6], atol=1e-15)
    assert cost == 5.0  # the cost before the step
    # several arguments: a tuple back
    a, b = opt.step(lambda u, v: sq(u) + sq(v), np.array([1.0]), np.array(2.0),
                    grad_fn=lambda u, v: (2 * u, 2 * v))
    np.testing.assert_allclose(a, [0.8])
    np.testing.assert_allclose(b, 1.6)


def test_momentum_and_nesterov_hand_values():
    opt = MomentumOptimizer(stepsize=0.1, momentum=0.9)
    x = opt.step(sq, np.array([1.0]), grad_fn=sq_grad)        # a = 0.2
    np.testing.assert_allclose(x, [0.8])
    x = opt.step(sq, x, grad_fn=sq_grad)                        # a = 0.9*0.2 + 0.1*1.6 = 0.34
    np.testing.assert_allclose(x, [0.46])
    opt = NesterovMomentumOptimizer(stepsize=0.1, momentum=0.9)
    x = opt.step(sq, np.array([1.0]), grad_fn=sq_grad)        # first step: plain, a = 0.2
    np.testing.assert_allclose(x, [0.8])
    x = opt.step(sq, x, grad_fn=sq_grad)   # grad at 0.8 - 0.9*0.2 = 0.62 -> 1.24; a = 0.18 + 0.124 = 0.304
    np.testing.assert_allclose(x, [0.8 - 0.304])


def test_adagrad_rmsprop_adam_hand_values():
    g0 = 2.0  # gradient of x^2 at 1
    opt = AdagradOptimizer(stepsize=0.1, eps=1e-8)
    x = opt.step(sq, np.array([1.0]), grad_fn=sq_grad)
    np.testing.assert_allclose(x, [1 - 0.1 * g0 / math.sqrt(g0 ** 2 + 1e-8)])
    g1 = 2 * x[0]
    x2 = opt.step(sq, x, grad_fn=sq_grad)
    np.testing.assert_allclose(x2, [x[0] - 0.1 * g1 / math.sqrt(g0 ** 2 + g1 ** 2 + 1e-8)])

    opt = RMSPropOptimizer(stepsize=0.1, decay=0.9, eps=1e-8)
    x = opt.step(sq, np.array([1.0]), grad_fn=sq_grad)
    np.testing.assert_allclose(x, [1 - 0.1 * g0 / math.sqrt(0.1 * g0 ** 2 + 1e-8)])

    opt = AdamOptimizer(stepsize=0.1, beta1=0.9, beta2=0.99, eps=1e-8)
    x = opt.step(sq, np.array([1.0]), grad_fn=sq_grad)
    lr1 = 0.1 * math.sqrt(1 - 0.99) / (1 - 0.9)
    np.testing.assert_allclose(x, [1 - lr1 * (0.1 * g0) / (math.sqrt(0.01 * g0 ** 2) + 1e-8)])
    g1 = 2 * x[0]
    fm = 0.9 * 0.1 * g0 + 0.1 * g1
    sm = 0.99 * 0.01 * g0 ** 2 + 0.01 * g1 ** 2
    lr2 = 0.1 * math.sqrt(1 - 0.99 ** 2) / (1 - 0.9 ** 2)
    x2 = opt.step(sq, x, grad_fn=sq_grad)
    np.testing.assert_allclose(x2, [x[0] - lr2 * fm / (math.sqrt(sm) + 1e-8)])
    assert opt.t == 2


def test_spsa_schedule_on_a_linear_objective():
    # for f(x) = 3 x in one dimension the SPSA estimate is exactly 3 whatever the perturbation
    opt = SPSAOptimizer(maxiter=10, seed=0)  # A = 1, a = 0.05 * 2^0.602
    a = 0.05 * 2 ** 0.602
    x = opt.step(lambda v: 3 * float(v[0]), np.array([1.0]))
    np.testing.assert_allclose(x, [1 - a / 2 ** 0.602 * 3])
    x2 = opt.step(lambda v: 3 * float(v[0]), x)
    np.testing.assert_allclose(x2, [x[0] - a / 3 ** 0.602 * 3])
    # two evaluations per step whatever the dimension, and the estimate is unbiased on a quadratic
    calls = []
    opt = SPSAOptimizer(maxiter=100, seed=1)
    f = (lambda v: calls.append(1) or sq(v))
    v = np.ones(5)
    for _ in range(200):
        v = opt.step(f, v)
    assert len(calls) == 400 and sq(v) < 1e-2


def two_qubit_circuit():
    @pq.qnode(wires=2)
    def circuit(params):
        pq.RX(params[0], wires=0)
        pq.RY(params[1], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))
    return circuit


def test_qnode_objective_gradient_descent():
    circuit = two_qubit_circuit()
    p = np.array([0.5, 0.1])
    # <Z1> = cos(p0) cos(p1): gradient by hand
    g = np.array([-math.sin(0.5) * math.cos(0.1), -math.cos(0.5) * math.sin(0.1)])
    new, cost = GradientDescentOptimizer(0.1).step_and_cost(circuit, p)
    np.testing.assert_allclose(new, p - 0.1 * g, atol=1e-12)
    assert abs(cost - math.cos(0.5) * math.cos(0.1)) < 1e-12


def test_rotosolve_minimises_sinusoids_in_one_sweep():
    f = lambda x: 2 + 3 * math.cos(x[0] - 0.4) + math.sin(x[1]) - 0.5 * math.cos(x[1])
    x, cost = RotosolveOptimizer().step_and_cost(f, np.array([0.1, 0.2]))
    assert abs(cost - f(np.array([0.1, 0.2]))) < 1e-12
    np.testing.assert_allclose(x, [0.4 - math.pi, math.atan2(-1, 0.5)], atol=1e-12)
    assert abs(f(x) - (2 - 3 - math.hypot(1, 0.5))) < 1e-12
    with pytest.raises(ValueError, match="one frequency"):
        RotosolveOptimizer().step(f, np.zeros(2), nums_frequency={"x": {(0,): 2}})


# --- QNG ----------------------------------------------------------------------------------------------
def test_metric_tensor_single_qubit_by_hand():
    @pq.qnode(wires=1)
    def f(w):
        pq.RX(w[0], wires=0)
        pq.RY(w[1], wires=0)
        return pq.expval(pq.Z(0))
    w = np.array([0.7, -0.3])
    g = metric_tensor(f, w)
    np.testing.assert_allclose(g, np.diag([0.25, math.cos(0.7) ** 2 / 4]), atol=1e-14)
    opt = QNGOptimizer(stepsize=0.1, lam=0.0)
    _, dw, _ = f.jacobian(w)
    new = opt.step(f, w)
    np.testing.assert_allclose(new, w - 0.1 * np.linalg.pinv(g) @ dw, atol=1e-12)


def _fs_metric_fd(circuit, w, h=1e-5):
    """Full Fubini-Study metric Re<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi> by central differences."""
    psi = pq.state(circuit, weights=w)
    d = []
    for i in range(w.size):
        wp, wm = w.copy(), w.copy()
        wp[i] += h
        wm[i] -= h
        d.append((pq.state(circuit, weights=wp) - pq.state(circuit, weights=wm)) / (2 * h))
    d = np.array(d)
    return (d.conj() @ d.T).real - np.outer(d.conj() @ psi, psi.conj() @ d.T).real


def test_metric_tensor_blocks_equal_fubini_study_entries():
    @pq.qnode(wires=3)
    def f(w):
        pq.Hadamard(wires=0)
        pq.CNOT(wires=[0, 1])
        pq.RY(0.3, wires=2)
        pq.RX(w[0], wires=0)
        pq.RX(w[1], wires=1)
        pq.RZ(2 * w[2] + 0.1, wires=2)
        pq.CNOT(wires=[1, 2])
        pq.CNOT(wires=[0, 1])
        pq.IsingZZ(w[3], wires=[0, 2])
        pq.CRX(w[4], wires=[1, 0])
        pq.PhaseShift(w[5], wires=2)
        return pq.expval(pq.Z(0) @ pq.X(2))
    w = np.random.default_rng(0).uniform(-1, 1, 6)
    g = metric_tensor(f, w)
    full = _fs_metric_fd(f.circuit(w), w)
    nz = np.abs(g) > 0
    np.testing.assert_allclose(g[nz], full[nz], atol=1e-8)
    assert nz[0, 1] and nz[2, 2] and not nz[0, 3]  # entangled pair in one layer; layers apart are zero
    np.testing.assert_allclose(np.diag(g), np.diag(full), atol=1e-8)


def test_metric_tensor_with_rot_gates():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(2))
        pq.StronglyEntanglingLayers(weights, wires=range(2))
        return pq.expval(pq.Z(0))
    rng = np.random.default_rng(2)
    w = rng.uniform(0, 2 * np.pi, (2, 2, 3))
    x = rng.uniform(-1, 1, 2)
    g = metric_tensor(f, w, inputs=x)
    c = f.circuit(x, w)
    psi_fn = lambda ww: pq.state(c, weights=ww, inputs=x)
    h = 1e-5
    d = []
    for i in range(w.size):
        wp, wm = w.ravel().copy(), w.ravel().copy()
        wp[i] += h
        wm[i] -= h
        d.append((psi_fn(wp) - psi_fn(wm)) / (2 * h))
    d = np.array(d)
    psi = psi_fn(w.ravel())
    full = (d.conj() @ d.T).real - np.outer(d.conj() @ psi, psi.conj() @ d.T).real
    np.testing.assert_allclose(np.diag(g), np.diag(full), atol=1e-8)
    nz = np.abs(g) > 1e-14
    np.testing.assert_allclose(g[nz], full[nz], atol=1e-8)


# --- scipy bridge ------------------------------------------------------------------------------------
def test_scipy_bridge_lbfgsb_and_cobyla():
    circuit = two_qubit_circuit()
    res = ScipyOptimizer("L-BFGS-B", tol=1e-12).minimize(circuit, np.array([0.5, 0.1]))
    assert res.success and abs(res.fun + 1) < 1e-10 and res.x.shape == (2,)
    res = ScipyOptimizer("COBYLA", options={"maxiter": 500}).minimize(circuit, np.array([0.5, 0.1]))
    assert abs(res.fun + 1) < 1e-5
    res = ScipyOptimizer("BFGS").minimize(sq, np.array([[1.0, 2.0]]), grad_fn=sq_grad)
    assert res.x.shape == (1, 2) and np.abs(res.x).max() < 1e-6


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: GradientDescentOptimizer(stepsize=-0.1),
    lambda: GradientDescentOptimizer(stepsize=float("nan")),
    lambda: MomentumOptimizer(momentum=1.5),
    lambda: AdamOptimizer(beta1=1.0),
    lambda: AdamOptimizer(eps=0),
    lambda: RMSPropOptimizer(decay=-0.1),
    lambda: SPSAOptimizer(maxiter=10, c=-1),
    lambda: QNGOptimizer(lam=-1),
    lambda: QNGOptimizer(approx="diag-ish"),
])
def test_invalid_hyper_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_bad_objectives():
    with pytest.raises(TypeError, match="SPSAOptimizer"):
        SPSAOptimizer()
    with pytest.raises(TypeError, match="grad_fn"):
        GradientDescentOptimizer().step(sq, np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        GradientDescentOptimizer().step(sq, np.array([np.nan]), grad_fn=sq_grad)
    with pytest.raises(ValueError, match="shape"):
        GradientDescentOptimizer().step(sq, np.ones(2), grad_fn=lambda x: np.ones(3))

    @pq.qnode(wires=2)
    def two(w):
        pq.RX(w[0], wires=0)
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1))]
    with pytest.raises(ValueError, match="one expectation value"):
        GradientDescentOptimizer().step(two, np.ones(1))


def test_metric_tensor_and_qng_step_match_pennylane():
    import json
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "qng_reference.json")
    with open(path) as fh:
        ref = json.load(fh)

    @pq.qnode(wires=3)
    def circ(w):
        pq.RY(w[0], wires=0)
        pq.RX(w[1], wires=1)
        pq.RY(w[2], wires=2)
        pq.CNOT(wires=[0, 1])
        pq.CNOT(wires=[1, 2])
        pq.RX(w[3], wires=0)
        pq.RZ(w[4], wires=1)
        pq.RY(w[5], wires=2)
        pq.CNOT(wires=[2, 0])
        pq.RY(w[6], wires=0)
        pq.RX(w[7], wires=1)
        return pq.expval(pq.Z(0) @ pq.Z(2))

    w = np.array(ref["weights"])
    np.testing.assert_allclose(metric_tensor(circ, w), ref["metric_tensor"], atol=1e-12)
    np.testing.assert_allclose(QNGOptimizer(stepsize=0.1).step(circ, w), ref["qng_step_0.1"], atol=1e-12)
