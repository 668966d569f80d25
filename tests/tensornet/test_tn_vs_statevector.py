"""The tensor-network method against the state-vector method and a dense numpy reference, on random
circuits over every gate of the table and random Pauli-sum observables: values, Jacobians w.r.t. weights
and inputs, VJPs, batches, both precisions."""
from __future__ import annotations

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, RandomCircuit, random_pauli_sum

import pyqml as pq


def _case(seed: int, n: int, n_gates: int, n_inputs: int = 0):
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates, rng, n_inputs=n_inputs)
    obs = [random_pauli_sum(n, rng, n_terms=int(rng.integers(1, 5))) for _ in range(3)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    rows = 3 if n < 12 else 1  # the dense reference is slow at 12+ wires
    x = rng.uniform(-1, 1, (rows, n_inputs)) if n_inputs else None
    return rc, [o for o, _ in obs], [t for _, t in obs], w, x, rng


def _dense_values(rc, terms, w, x):
    rows = [None] if x is None else list(x)
    out = []
    for xr in rows:
        psi = rc.state(w, xr)
        out.append([sum(_word_expval(psi, rc.n, t) for t in ts) for ts in terms])
    return np.array(out)


def _word_expval(psi, n, term):
    coeff, word = term
    phi = psi
    for v, letter in word.items():
        phi = ref.apply(phi, ref.PAULI[letter], [v], n)
    return coeff * float(np.real(np.vdot(psi, phi)))


@pytest.mark.parametrize("seed,n,n_gates", [(1, 3, 25), (2, 5, 40), (3, 8, 50), (4, 12, 30), (5, 16, 20)])
def test_values_match_dense_reference_and_gradients_match_parameter_shift(seed, n, n_gates):
    """Values against the dense numpy reference; gradients against the exact parameter-shift rule applied
    to those (independently checked) values."""
    from pyqml.gradients import parameter_shift_jacobian

    rc, obs, terms, w, x, _ = _case(seed, n, n_gates, n_inputs=2)
    c = rc.circuit()
    tn = c.executor(obs, "tensornet")
    v, dw, dx = tn.jacobian(w, x)
    np.testing.assert_allclose(v, _dense_values(rc, terms, w, x), atol=1e-10, rtol=0)
    _, pw, px = parameter_shift_jacobian(tn, c, w, x)
    np.testing.assert_allclose(dw, pw, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx, px, atol=1e-10, rtol=0)


@pytest.mark.parametrize("seed,n,n_gates", [(1, 3, 25), (2, 5, 40), (3, 8, 60), (6, 10, 30)])
def test_values_and_gradients_match_statevector(seed, n, n_gates):
    rc, obs, _, w, x, _ = _case(seed, n, n_gates, n_inputs=2)
    c = rc.circuit()
    sv = c.executor(obs, "statevector")
    tn = c.executor(obs, "tensornet")
    np.testing.assert_allclose(tn.expval(w, x), sv.expval(w, x), atol=1e-10, rtol=0)
    v1, dw1, dx1 = tn.jacobian(w, x)
    v2, dw2, dx2 = sv.jacobian(w, x)
    np.testing.assert_allclose(v1, v2, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx1, dx2, atol=1e-10, rtol=0)


def test_dense_reference_every_gate():
    """Each gate alone in a small circuit, read out by every one- and two-wire Pauli word."""
    rng = np.random.default_rng(11)
    n = 4
    for name in NAMES:
        rc = RandomCircuit(n, 1, rng, names=[name])
        pre = RandomCircuit(n, 6, rng, names=["RY", "RX", "CNOT"])
        rc.spec = pre.spec + rc.spec
        rc.n_weights = 0
        for i, (nm, wires, params, U) in enumerate(rc.spec):  # constants only: compare values
            rc.spec[i] = (nm, wires, [(0, 0, 1.0, float(rng.uniform(-3, 3))) for _ in params], U)
        c = rc.circuit()
        psi = rc.state()
        words = [{a: p} for a in range(n) for p in "XYZ"] + [{0: "X", 2: "Y"}, {1: "Z", 3: "Z"}, {0: "Y", 3: "X"}]
        obs = []
        for word in words:
            o = pq.Observable({(): 1.0})
            for v, letter in word.items():
                o = o @ pq.Observable.pauli(letter, v)
            obs.append(o)
        got = c.executor(obs, "tensornet").expval(np.zeros(0))[0]
        want = [np.real(psi.conj() @ ref.pauli_matrix([(1.0, word)], n) @ psi) for word in words]
        np.testing.assert_allclose(got, want, atol=1e-10, rtol=0, err_msg=name)


def test_batches_per_row_weights_and_vjp():
    rc, obs, _, w, x, rng = _case(21, 6, 40, n_inputs=3)
    c = rc.circuit()
    sv = c.executor(obs, "statevector")
    tn = c.executor(obs, "tensornet")
    W = rng.uniform(-3, 3, (3, rc.n_weights))
    np.testing.assert_allclose(tn.expval(W, x), sv.expval(W, x), atol=1e-10, rtol=0)
    cot = rng.normal(size=(3, len(obs)))
    for weights in (w, W):
        a = tn.vjp(weights, x, cot)
        b = sv.vjp(weights, x, cot)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, atol=1e-10, rtol=0)
    # VJP against the Jacobian contracted by hand.
    vals, dw, dx = tn.jacobian(w, x)
    _, vw, vx = tn.vjp(w, x, cot)
    np.testing.assert_allclose(vw, np.einsum("ro,row->w", cot, dw), atol=1e-10, rtol=0)
    np.testing.assert_allclose(vx, np.einsum("ro,rox->rx", cot, dx), atol=1e-10, rtol=0)


def test_expval_angles_matches_statevector():
    rc, obs, _, w, x, rng = _case(31, 5, 30, n_inputs=1)
    c = rc.circuit()
    angles = c.core.bind(w, x)
    np.testing.assert_allclose(c.executor(obs, "tensornet").expval_angles(angles),
                               c.executor(obs, "statevector").expval_angles(angles), atol=1e-10, rtol=0)


def test_complex64():
    rc, obs, _, w, x, _ = _case(41, 7, 50, n_inputs=2)
    c = rc.circuit()
    v1, dw1, dx1 = c.executor(obs, "tensornet", "complex64").jacobian(w, x)
    v2, dw2, dx2 = c.executor(obs, "statevector").jacobian(w, x)
    np.testing.assert_allclose(v1, v2, atol=2e-5, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=2e-5, rtol=0)
    np.testing.assert_allclose(dx1, dx2, atol=2e-5, rtol=0)


def test_public_entry_points():
    rc, obs, _, w, _, _ = _case(51, 6, 30)
    c = rc.circuit()
    a = pq.expval(c, obs, weights=w, method="tensornet")
    b = pq.expval(c, obs, weights=w, method="statevector")
    np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)
    va, da, _ = pq.jacobian(c, obs, weights=w, method="tensornet")
    vb, db, _ = pq.jacobian(c, obs, weights=w, method="statevector")
    np.testing.assert_allclose(da, db, atol=1e-10, rtol=0)


def test_constant_terms_and_identity_words():
    c = pq.Circuit(2)
    w = c.new_weights(1)
    with c:
        pq.RX(w[0], wires=0)
    obs = [2.5 + 0 * pq.Z(0), pq.Z(0) + 0.5]
    got = c.executor(obs, "tensornet").jacobian(np.array([0.3]))
    np.testing.assert_allclose(got[0][0], [2.5, np.cos(0.3) + 0.5], atol=1e-12)
    np.testing.assert_allclose(got[1][0, :, 0], [0.0, -np.sin(0.3)], atol=1e-12)


@pytest.mark.parametrize("seed,n,n_gates", [(61, 4, 30), (62, 7, 40), (63, 10, 30)])
def test_amplitudes_match_dense_reference(seed, n, n_gates):
    from pyqml.tensornet import amplitude

    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates, rng, n_inputs=2)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, 2))
    psis = [rc.state(w, xr) for xr in x]
    for idx in list(rng.choice(2**n, 4, replace=False)) + [0]:
        bits = [(int(idx) >> (n - 1 - k)) & 1 for k in range(n)]
        got = amplitude(c, bits, weights=w, inputs=x)
        np.testing.assert_allclose(got, [p[idx] for p in psis], atol=1e-10, rtol=0)
        got64 = amplitude(c, bits, weights=w, inputs=x, precision="complex64")
        np.testing.assert_allclose(got64, [p[idx] for p in psis], atol=2e-5, rtol=0)
    with pytest.raises(ValueError, match="bits"):
        amplitude(c, [0] * (n + 1), weights=w, inputs=x)


def test_marginal_probs_and_reduced_density_matrix_match_dense_reference():
    from pyqml.tensornet import marginal_probs, reduced_density_matrix

    rng = np.random.default_rng(71)
    n = 6
    rc = RandomCircuit(n, 40, rng, n_inputs=1)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, 1))
    for wires in ([2], [4, 1], [0, 5, 3]):
        k = len(wires)
        rho = reduced_density_matrix(c, wires, weights=w, inputs=x)
        probs = marginal_probs(c, wires, weights=w, inputs=x)
        for r, xr in enumerate(x):
            psi = rc.state(w, xr).reshape((2,) * n)
            rest = [q for q in range(n) if q not in wires]
            m = np.transpose(psi, wires + rest).reshape(2**k, -1)
            want = m @ m.conj().T
            np.testing.assert_allclose(rho[r], want, atol=1e-10, rtol=0)
            np.testing.assert_allclose(probs[r], np.real(np.diag(want)), atol=1e-10, rtol=0)
        np.testing.assert_allclose(probs, pq.probs(c, wires, weights=w, inputs=x), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="repeated"):
        marginal_probs(c, [1, 1], weights=w, inputs=x)
