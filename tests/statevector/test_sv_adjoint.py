"""Adjoint Jacobians and VJPs of the state-vector engine against three references: central finite
differences of the dense numpy simulator (independent of the engine), the parameter-shift rule and the
engine's own finite differences; for weights and affine inputs, batched and unbatched, shared and per-row
weights.

Tolerances: 1e-10 against parameter shift (exact); 1e-8 against central differences of step 1e-6
(truncation ~1e-12, rounding ~1e-10); 1e-4 for complex64.
"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import gradients

SV = {"method": "statevector"}


def _dense_values(rc, terms_list, w, X):
    rows = [None] if X is None else list(X)
    return np.array([[ref.expval_var(t, rc.state(w, x), rc.n)[0] for t in terms_list] for x in rows])


def _dense_jacobian(rc, terms_list, w, X, h=1e-6):
    """Central differences of the dense reference in every weight and input: (rows, n_obs, n_w), (.., d)."""
    rows = 1 if X is None else X.shape[0]
    dw = np.zeros((rows, len(terms_list), rc.n_weights))
    for k in range(rc.n_weights):
        e = np.zeros(rc.n_weights)
        e[k] = h
        dw[:, :, k] = (_dense_values(rc, terms_list, w + e, X) - _dense_values(rc, terms_list, w - e, X)) / (2 * h)
    d = 0 if X is None else X.shape[1]
    dx = np.zeros((rows, len(terms_list), d))
    for j in range(d):
        e = np.zeros_like(X)
        e[:, j] = h
        dx[:, :, j] = (_dense_values(rc, terms_list, w, X + e) - _dense_values(rc, terms_list, w, X - e)) / (2 * h)
    return dw, dx


def _setup(n, n_inputs, rows, seed, n_gates=None):
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates or 3 * n + 6, rng, n_inputs=n_inputs)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(rows, n_inputs)) if n_inputs else None
    obs, terms = zip(*[random_pauli_sum(n, rng, n_terms=3) for _ in range(3)])
    return rc, c, w, X, list(obs), list(terms)


@pytest.mark.parametrize("n, n_inputs, rows", [(1, 1, 3), (2, 2, 1), (3, 2, 4), (5, 3, 3), (7, 2, 2)])
def test_adjoint_against_dense_finite_differences_and_parameter_shift(n, n_inputs, rows):
    rc, c, w, X, obs, terms = _setup(n, n_inputs, rows, ref.seed_of("adj", n, n_inputs, rows))
    vals, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    assert vals.shape == (rows, 3) and dw.shape == (rows, 3, rc.n_weights) and dx.shape == (rows, 3, n_inputs)
    np.testing.assert_allclose(vals, _dense_values(rc, terms, w, X), atol=1e-12)
    fd_w, fd_x = _dense_jacobian(rc, terms, w, X)
    np.testing.assert_allclose(dw, fd_w, atol=1e-8)
    np.testing.assert_allclose(dx, fd_x, atol=1e-8)
    ex = c.executor(obs, "statevector")
    ps_vals, ps_w, ps_x = gradients.parameter_shift_jacobian(ex, c, w, X)
    np.testing.assert_allclose(ps_vals, vals, atol=1e-12)
    np.testing.assert_allclose(dw, ps_w, atol=1e-10)
    np.testing.assert_allclose(dx, ps_x, atol=1e-10)
    _, fdw2, fdx2 = gradients.finite_diff_jacobian(ex, c, w, X)
    np.testing.assert_allclose(dw, fdw2, atol=1e-7)
    np.testing.assert_allclose(dx, fdx2, atol=1e-7)


def test_adjoint_without_inputs_unbatched_shapes():
    rc, c, w, _, obs, terms = _setup(4, 0, 1, 5)
    vals, dw, dx = pq.jacobian(c, obs, weights=w, **SV)
    assert vals.shape == (3,) and dw.shape == (3, rc.n_weights) and dx.shape == (3, 0)
    fd_w, _ = _dense_jacobian(rc, terms, w, None)
    np.testing.assert_allclose(dw, fd_w[0], atol=1e-8)
    v1, d1, _ = pq.jacobian(c, obs[1], weights=w, **SV)
    assert np.ndim(v1) == 0 and d1.shape == (rc.n_weights,)
    np.testing.assert_allclose(d1, dw[1], atol=1e-14)


def test_unbatched_input_row_drops_the_batch_axis():
    rc, c, w, X, obs, _ = _setup(3, 2, 2, 8)
    vals, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    v0, dw0, dx0 = pq.jacobian(c, obs, weights=w, inputs=X[0], **SV)
    assert v0.shape == (3,) and dw0.shape == (3, rc.n_weights) and dx0.shape == (3, 2)
    np.testing.assert_allclose(v0, vals[0], atol=1e-14)
    np.testing.assert_allclose(dw0, dw[0], atol=1e-14)
    np.testing.assert_allclose(dx0, dx[0], atol=1e-14)


@pytest.mark.parametrize("rows", [1, 5])
def test_vjp_equals_jacobian_contraction(rows):
    _, c, w, X, obs, _ = _setup(5, 3, rows, 21 + rows)
    ex = c.executor(obs, "statevector")
    vals, dw, dx = ex.jacobian(w, X)
    cot = np.random.default_rng(rows).normal(size=(rows, 3))
    v2, gw, gx = ex.vjp(w, X, cot)
    np.testing.assert_allclose(v2, vals, atol=1e-14)
    np.testing.assert_allclose(gw, np.einsum("ro,row->w", cot, dw), atol=1e-12)
    np.testing.assert_allclose(gx, np.einsum("ro,rox->rx", cot, dx), atol=1e-12)


def test_per_row_weights():
    rc, c, _, X, obs, terms = _setup(4, 2, 4, 33)
    rng = np.random.default_rng(2)
    W = rng.uniform(-np.pi, np.pi, (4, rc.n_weights))
    ex = c.executor(obs, "statevector")
    vals, dw, dx = ex.jacobian(W, X)
    for r in range(4):
        v_r, dw_r, dx_r = ex.jacobian(W[r], X[r:r + 1])
        np.testing.assert_allclose(vals[r], v_r[0], atol=1e-14)
        np.testing.assert_allclose(dw[r], dw_r[0], atol=1e-13)
        np.testing.assert_allclose(dx[r], dx_r[0], atol=1e-13)
        np.testing.assert_allclose(vals[r], _dense_values(rc, terms, W[r], X[r:r + 1])[0], atol=1e-12)
    # the same through pq.jacobian
    v_pq, dw_pq, dx_pq = pq.jacobian(c, obs, weights=W, inputs=X, **SV)
    np.testing.assert_allclose(v_pq, vals, atol=1e-14)
    np.testing.assert_allclose(dw_pq, dw, atol=1e-14)
    np.testing.assert_allclose(dx_pq, dx, atol=1e-14)
    cot = rng.normal(size=(4, 3))
    _, gw, gx = ex.vjp(W, X, cot)
    assert gw.shape == (4, rc.n_weights)  # per-row weights keep per-row gradients
    np.testing.assert_allclose(gw, np.einsum("ro,row->rw", cot, dw), atol=1e-12)
    np.testing.assert_allclose(gx, np.einsum("ro,rox->rx", cot, dx), atol=1e-12)
    # per-row weights without inputs
    rc2, c2, _, _, obs2, terms2 = _setup(3, 0, 1, 34)
    W2 = rng.uniform(-np.pi, np.pi, (3, rc2.n_weights))
    v, d, _ = c2.executor(obs2, "statevector").jacobian(W2, None)
    assert v.shape == (3, 3)
    for r in range(3):
        np.testing.assert_allclose(v[r], _dense_values(rc2, terms2, W2[r], None)[0], atol=1e-12)
        np.testing.assert_allclose(d[r], _dense_jacobian(rc2, terms2, W2[r], None)[0][0], atol=1e-8)


def test_complex64_jacobian():
    _, c, w, X, obs, _ = _setup(5, 2, 3, 44)
    v128, dw128, dx128 = pq.jacobian(c, obs, weights=w, inputs=X, **SV)
    v64, dw64, dx64 = pq.jacobian(c, obs, weights=w, inputs=X, precision="complex64", **SV)
    np.testing.assert_allclose(v64, v128, atol=1e-4)
    np.testing.assert_allclose(dw64, dw128, atol=1e-4)
    np.testing.assert_allclose(dx64, dx128, atol=1e-4)


def _layer_qnode(diff_method="adjoint"):
    @pq.qnode(wires=3, method="statevector", diff_method=diff_method)
    def f(inputs, weights, extra):
        for i in range(3):
            pq.RX(0.7 * inputs[i] - 0.2, wires=i)
        pq.Rot(weights[0, 0], weights[0, 1], weights[0, 2], wires=0)
        pq.CRY(weights[1, 0], wires=[2, 0])
        pq.IsingXX(-2 * weights[1, 1] + 1, wires=[1, 2])
        pq.RZ(weights[0, 0] * 0.5, wires=2)  # weights[0, 0] feeds two gates
        pq.CNOT(wires=[0, 1])
        pq.RY(extra, wires=1)
        pq.MultiRZ(inputs[0] * 1.5, wires=[2, 0, 1])
        return [pq.expval(pq.Z(0) @ pq.X(1)), pq.expval(0.5 * pq.Y(2) - pq.Z(1))]
    return f


def _layer_dense(x, W, e):
    g = [(ref.rx(0.7 * x[i] - 0.2), [i]) for i in range(3)]
    g += [(ref.rot(W[0, 0], W[0, 1], W[0, 2]), [0]), (ref.controlled(ref.ry(W[1, 0])), [2, 0]),
          (ref.expm_herm(ref.kron(ref.X, ref.X), -2 * W[1, 1] + 1), [1, 2]), (ref.rz(W[0, 0] * 0.5), [2]),
          (ref.controlled(ref.X), [0, 1]), (ref.ry(e), [1]), (ref.multirz(1.5 * x[0], 3), [2, 0, 1])]
    psi = ref.simulate(3, g)
    return np.array([ref.expval_var(t, psi, 3)[0] for t in
                     ([(1.0, {0: "Z", 1: "X"})], [(0.5, {2: "Y"}), (-1.0, {1: "Z"})])])


def test_qnode_jacobian_and_vjp_against_dense_differences():
    f = _layer_qnode()
    rng = np.random.default_rng(8)
    X = rng.normal(size=(4, 3))
    W = rng.normal(size=(2, 3))
    e = 0.4
    vals, (dW, de), dX = f.jacobian(X, W, e)
    assert vals.shape == (4, 2) and dW.shape == (4, 2, 2, 3) and de.shape == (4, 2) and dX.shape == (4, 2, 3)
    h = 1e-6
    for r in range(4):
        np.testing.assert_allclose(vals[r], _layer_dense(X[r], W, e), atol=1e-12)
        for idx in np.ndindex(2, 3):
            Wp, Wm = W.copy(), W.copy()
            Wp[idx] += h
            Wm[idx] -= h
            fd = (_layer_dense(X[r], Wp, e) - _layer_dense(X[r], Wm, e)) / (2 * h)
            np.testing.assert_allclose(dW[(r, slice(None)) + idx], fd, atol=1e-8)
        fd = (_layer_dense(X[r], W, e + h) - _layer_dense(X[r], W, e - h)) / (2 * h)
        np.testing.assert_allclose(de[r], fd, atol=1e-8)
        for j in range(3):
            xp, xm = X[r].copy(), X[r].copy()
            xp[j] += h
            xm[j] -= h
            np.testing.assert_allclose(dX[r, :, j], (_layer_dense(xp, W, e) - _layer_dense(xm, W, e)) / (2 * h),
                                       atol=1e-8)
    # unbatched call drops the row axis
    v0, (dW0, de0), dX0 = f.jacobian(X[1], W, e)
    np.testing.assert_allclose(de0, de[1], atol=1e-14)
    np.testing.assert_allclose(v0, vals[1], atol=1e-14)
    np.testing.assert_allclose(dW0, dW[1], atol=1e-14)
    np.testing.assert_allclose(dX0, dX[1], atol=1e-14)
    # VJP
    cot = rng.normal(size=(4, 2))
    v, (gW, ge), gX = f.vjp(X, W, e, cotangent=cot)
    np.testing.assert_allclose(v, vals, atol=1e-14)
    np.testing.assert_allclose(gW, np.einsum("ro,roab->ab", cot, dW), atol=1e-12)
    np.testing.assert_allclose(ge, np.einsum("ro,ro->", cot, de), atol=1e-12)
    np.testing.assert_allclose(gX, np.einsum("ro,rox->rx", cot, dX), atol=1e-12)
    # the reference methods by name agree
    for method, tol in (("parameter-shift", 1e-10), ("finite-diff", 1e-7)):
        g = _layer_qnode(method)
        v2, (dW2, de2), dX2 = g.jacobian(X, W, e)
        np.testing.assert_allclose(v2, vals, atol=1e-12)
        np.testing.assert_allclose(dW2, dW, atol=tol)
        np.testing.assert_allclose(de2, de, atol=tol)
        np.testing.assert_allclose(dX2, dX, atol=tol)


def test_single_measurement_qnode_shapes():
    @pq.qnode(wires=2, method="statevector")
    def f(inputs, weights):
        pq.RY(inputs[0], wires=0)
        pq.CRX(weights[0], wires=[0, 1])
        return pq.expval(pq.Z(1))

    X = np.array([[0.3], [1.2]])
    w = np.array([0.8])
    vals, dw, dx = f.jacobian(X, w)
    assert vals.shape == (2,) and dw.shape == (2, 1) and dx.shape == (2, 1)
    # <Z1> = 1 - sin^2(x/2) (1 - cos w)
    s2 = np.sin(X[:, 0] / 2) ** 2
    np.testing.assert_allclose(vals, 1 - s2 * (1 - np.cos(0.8)), atol=1e-14)
    np.testing.assert_allclose(dw[:, 0], -s2 * np.sin(0.8), atol=1e-14)
    np.testing.assert_allclose(dx[:, 0], -0.5 * np.sin(X[:, 0]) * (1 - np.cos(0.8)), atol=1e-14)
