"""Exact unitaries at any finite angle: every parametrised gate of the table at huge angles (1e15, -3e14,
1e300) is unitary to 1e-12, equals the gate at the angle reduced modulo its period (4 pi for half-angle
parameters, 2 pi for phases; math.remainder is exact), as do its derivatives; state-vector probabilities
sum to one, and the state-vector and tensor-network methods agree on values and gradients there."""
import math

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core

TABLE = {g["name"]: g for g in _core.gate_table()}
PARAM_GATES = sorted(n for n, g in TABLE.items() if g["n_params"] > 0)
HUGE = [1e15, -3e14, 1e300]
# Parameters that enter as exp(i t) (period 2 pi); every other parameter enters as a half angle (4 pi).
PHASE_PARAMS = {"PhaseShift": {0}, "ControlledPhaseShift": {0}, "U3": {1, 2}}


def _period(name, k):
    return 2 * math.pi if k in PHASE_PARAMS.get(name, ()) else 4 * math.pi


def _reduced(name, params):
    return [math.remainder(p, _period(name, k)) for k, p in enumerate(params)]


def _wires(name):
    return TABLE[name]["n_wires"] if TABLE[name]["n_wires"] > 0 else 3


def _param_sets(name, huge):
    n = TABLE[name]["n_params"]
    sets = [[huge] * n]
    for k in range(n):  # one huge parameter among ordinary ones
        p = [0.3 + 0.4 * j for j in range(n)]
        p[k] = huge
        sets.append(p)
    return sets


def test_reduction_is_the_exact_remainder():
    # The reference reduction: exact, idempotent, and within half a period.
    for t in HUGE + [7.0, -7.0]:
        r = math.remainder(t, 4 * math.pi)
        assert abs(r) <= 2 * math.pi
        assert math.remainder(r, 4 * math.pi) == r


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize("name", PARAM_GATES)
def test_gate_is_unitary_and_equals_the_reduced_gate(name, huge):
    k = _wires(name)
    eye = np.eye(2**k)
    for params in _param_sets(name, huge):
        U = _core.gate_matrix(name, params, k)
        np.testing.assert_allclose(U.conj().T @ U, eye, atol=1e-12, rtol=0, err_msg=f"{name}{params}")
        red = _reduced(name, params)
        np.testing.assert_allclose(U, _core.gate_matrix(name, red, k), atol=1e-12, rtol=0)
        # The independent reference at the reduced (ordinary-sized) angle.
        np.testing.assert_allclose(U, ref.gate_matrix(name, red, k), atol=1e-12, rtol=0)
        for j in range(len(params)):
            np.testing.assert_allclose(_core.gate_dmatrix(name, params, j, k),
                                       _core.gate_dmatrix(name, red, j, k), atol=1e-12, rtol=0)


def test_u3_at_huge_lambda_keeps_the_phase_product():
    # U3(theta, phi, lam)[1, 1] = exp(i phi) exp(i lam) cos(theta / 2), not exp(i * fl(phi + lam)).
    th, ph, lam = 0.7, 0.3, 1e15
    U = _core.gate_matrix("U3", [th, ph, lam])
    expect = np.exp(1j * ph) * np.exp(1j * math.remainder(lam, 2 * math.pi)) * math.cos(th / 2)
    assert abs(U[1, 1] - expect) < 1e-12


def _circuit(huge):
    """Every parametrised gate with weights as parameters; returns the circuit and a weight vector with
    huge and ordinary entries."""
    n = 4
    c = pq.Circuit(n)
    n_params = sum(TABLE[name]["n_params"] for name in PARAM_GATES)
    w = c.new_weights(n_params)
    vals = []
    i = 0
    with c:
        for q in range(n):
            pq.Hadamard(wires=q)
        for g, name in enumerate(PARAM_GATES):
            m = TABLE[name]["n_params"]
            k = _wires(name)
            wires = [(g + j) % n for j in range(k)]
            pq.GATES[name](*[w[i + j] for j in range(m)], wires=wires)
            for j in range(m):
                vals.append(huge if (i + j) % 2 == 0 else 0.2 + 0.1 * (i + j))
            i += m
    return c, np.array(vals)


def _reduced_weights(vals):
    # Every parameter of the circuit enters as it is (scale 1), so a weight reduced modulo 4 pi gives the
    # same gate for half-angle and phase parameters alike.
    return np.array([math.remainder(v, 4 * math.pi) for v in vals])


@pytest.mark.parametrize("huge", HUGE)
def test_statevector_probabilities_sum_to_one(huge):
    c, w = _circuit(huge)
    sv = c.executor([pq.Observable.pauli("Z", 0)], "statevector", measurement="probs")
    p = sv.probs(w, None, list(range(c.n_wires)))
    assert abs(p.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(p, sv.probs(_reduced_weights(w), None, list(range(c.n_wires))), atol=1e-12, rtol=0)


@pytest.mark.parametrize("huge", HUGE)
def test_statevector_and_tensornet_agree_at_huge_angles(huge):
    c, w = _circuit(huge)
    obs = [pq.Observable.pauli("Z", 0) @ pq.Observable.pauli("X", 2), pq.Observable.pauli("Y", 1),
           pq.Observable.pauli("X", 3) + 0.5 * pq.Observable.pauli("Z", 2)]
    sv = c.executor(obs, "statevector")
    tn = c.executor(obs, "tensornet")
    v1, dw1, _ = sv.jacobian(w, None)
    v2, dw2, _ = tn.jacobian(w, None)
    np.testing.assert_allclose(v1, v2, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=1e-12, rtol=0)
    # Both equal the circuit at the reduced weights.
    v3, dw3, _ = sv.jacobian(_reduced_weights(w), None)
    np.testing.assert_allclose(v1, v3, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw1, dw3, atol=1e-12, rtol=0)
