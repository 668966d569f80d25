"""The channel table: Kraus operators against PennyLane's recorded matrices, completeness, derivatives
against finite differences, superoperators against their Kraus sums, bounds, and channels in circuits."""
import json
from pathlib import Path

import numpy as np
import pytest

import pyqml as pq
from pyqml import _core

REF = json.loads((Path(__file__).parent.parent / "data" / "reference" / "noise.json").read_text())

# Parameters inside every channel's domain (and data where the channel takes some).
_K2 = [np.sqrt(0.7) * np.eye(2), np.sqrt(0.3) * np.array([[0, 1], [1, 0]])]
_U = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)) + 1j * np.random.default_rng(4).normal(size=(4, 4)))[0]
INTERIOR = [
    ("BitFlip", [0.23], None),
    ("PhaseFlip", [0.61], None),
    ("DepolarizingChannel", [0.37], None),
    ("AmplitudeDamping", [0.42], None),
    ("GeneralizedAmplitudeDamping", [0.31, 0.72], None),
    ("PhaseDamping", [0.55], None),
    ("ResetError", [0.12, 0.33], None),
    ("ThermalRelaxationError", [0.2, 1e-4, 7e-5, 3e-6], None),   # T2 <= T1
    ("ThermalRelaxationError", [0.3, 5e-5, 8e-5, 4e-6], None),   # T2 > T1
    ("PauliError", [0.27], np.kron(np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]))),
    ("PauliError", [0.4], np.array([[0, -1j], [1j, 0]])),
    ("QubitChannel", [], np.array(_K2, dtype=complex)),
    ("QubitChannel", [], np.array([np.sqrt(0.6) * np.eye(4), np.sqrt(0.4) * _U])),
]


def _kraus_ref(entry):
    return np.array(entry["kraus_re"]) + 1j * np.array(entry["kraus_im"])


def _word(ops: str) -> np.ndarray:
    m = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.diag([1, -1])}
    out = np.ones((1, 1), dtype=complex)
    for c in ops:
        out = np.kron(out, m[c])
    return out


@pytest.mark.parametrize("name", sorted(REF["channels"]))
def test_kraus_matches_pennylane(name):
    for entry in REF["channels"][name]:
        params = entry["params"]
        if name == "PauliError":
            ops, p = params
            got = pq.PauliError(ops, p, wires=list(range(len(ops)))).kraus_matrices()
        else:
            got = getattr(pq, name)(*params, wires=0).kraus_matrices()
        ref = _kraus_ref(entry)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)


def test_table_lists_every_channel_with_a_class():
    names = [c["name"] for c in _core.channel_table()]
    assert names == list(pq.CHANNELS)
    for c in _core.channel_table():
        assert len(c["param_names"]) == c["n_params"]


def _superop_from_kraus(K):
    return sum(np.kron(k, k.conj()) for k in K)


@pytest.mark.parametrize("name,params,data", INTERIOR)
def test_completeness_superoperator_and_derivatives(name, params, data):
    K = _core.channel_kraus(name, params, data)
    d = K.shape[1]
    np.testing.assert_allclose(sum(k.conj().T @ k for k in K), np.eye(d), atol=1e-13, rtol=0)
    S, dS = _core.channel_superoperator(name, params, data, derivatives=True)
    np.testing.assert_allclose(S, _superop_from_kraus(K), atol=1e-14, rtol=0)
    # vec(E(rho)) = S vec(rho) on a random density matrix.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    rho /= np.trace(rho)
    out = sum(k @ rho @ k.conj().T for k in K)
    np.testing.assert_allclose((S @ rho.ravel()).reshape(d, d), out, atol=1e-14, rtol=0)
    # Derivatives against central differences, scaled to each parameter's size.
    for q in range(len(params)):
        h = 1e-6 * abs(params[q])
        up, dn = list(params), list(params)
        up[q] += h
        dn[q] -= h
        fd_k = (_core.channel_kraus(name, up, data) - _core.channel_kraus(name, dn, data)) / (2 * h)
        dk = _core.channel_dkraus(name, params, q, data)
        scale = abs(params[q])
        np.testing.assert_allclose(dk * scale, fd_k * scale, atol=1e-8, rtol=0)
        fd_s = (_core.channel_superoperator(name, up, data) - _core.channel_superoperator(name, dn, data)) / (2 * h)
        np.testing.assert_allclose(dS[q] * scale, fd_s * scale, atol=1e-8, rtol=0)
        # The superoperator's derivative is the Kraus product rule.
        rule = sum(np.kron(dkj, kj.conj()) + np.kron(kj, dkj.conj()) for kj, dkj in zip(K, dk))
        np.testing.assert_allclose(dS[q], rule, atol=1e-9 / scale, rtol=1e-12)


def test_superoperator_derivative_at_zero_probability():
    # sqrt(p) has no derivative at p = 0, the channel does: S = (1 - p) 1 + p X (x) X.
    S, dS = _core.channel_superoperator("BitFlip", [0.0], derivatives=True)
    np.testing.assert_allclose(S, np.eye(4), atol=0)
    xx = np.kron(_word("X"), _word("X"))
    np.testing.assert_allclose(dS[0], xx - np.eye(4), atol=1e-15)
    S, dS = _core.channel_superoperator("DepolarizingChannel", [0.0], derivatives=True)
    paulis = [np.kron(_word(c), _word(c).conj()) for c in "XYZ"]
    np.testing.assert_allclose(dS[0], sum(paulis) / 3 - np.eye(4), atol=1e-15)
    # Amplitude damping's coherence sqrt(1 - gamma) has no derivative at gamma = 1: refused by name.
    with pytest.raises(ValueError, match="AmplitudeDamping: no derivative"):
        _core.channel_superoperator("AmplitudeDamping", [1.0], derivatives=True)


@pytest.mark.parametrize("make,match", [
    (lambda: pq.BitFlip(-0.1, wires=0), r"BitFlip: p = -0.1 is outside \[0, 1\]"),
    (lambda: pq.PhaseFlip(1.01, wires=0), r"PhaseFlip: p = 1.01 is outside"),
    (lambda: pq.DepolarizingChannel(2.0, wires=0), r"DepolarizingChannel: p = 2 is outside"),
    (lambda: pq.AmplitudeDamping(1.5, wires=0), r"AmplitudeDamping: gamma = 1.5"),
    (lambda: pq.GeneralizedAmplitudeDamping(0.2, -0.3, wires=0), r"GeneralizedAmplitudeDamping: p = -0.3"),
    (lambda: pq.PhaseDamping(-1e-9, wires=0), r"PhaseDamping: gamma"),
    (lambda: pq.ResetError(0.6, 0.5, wires=0), r"ResetError: p_0 \+ p_1 = 1.1 is above 1"),
    (lambda: pq.ResetError(-0.1, 0.5, wires=0), r"ResetError: p_0 = -0.1"),
    (lambda: pq.ThermalRelaxationError(0.1, 0.0, 1e-4, 1e-6, wires=0), r"t1 = 0 must be positive"),
    (lambda: pq.ThermalRelaxationError(0.1, 1e-4, -1e-4, 1e-6, wires=0), r"t2 = -0.0001 must be positive"),
    (lambda: pq.ThermalRelaxationError(0.1, 1e-4, 3e-4, 1e-6, wires=0), r"t2 = 0.0003 is greater than 2 t1"),
    (lambda: pq.ThermalRelaxationError(0.1, 1e-4, 1e-4, -1e-6, wires=0), r"tq = -1e-06 must be non-negative"),
    (lambda: pq.ThermalRelaxationError(1.1, 1e-4, 1e-4, 1e-6, wires=0), r"pe = 1.1"),
    (lambda: pq.PauliError("XY", 1.2, wires=[0, 1]), r"PauliError: p = 1.2"),
    (lambda: pq.PauliError("XQ", 0.1, wires=[0, 1]), r"string of I, X, Y, Z"),
    (lambda: pq.PauliError("X", 0.1, wires=[0, 1]), r"1 operator\(s\) 'X' on 2 wire\(s\)"),
    (lambda: pq.PauliError("XYZ", 0.1, wires=[0, 1, 2]), r"1 or 2 wires"),
    (lambda: pq.QubitChannel([0.9 * np.eye(2)], wires=0), r"not trace preserving .* tolerance 1e-10"),
    (lambda: pq.QubitChannel([np.eye(2) * np.sqrt(0.5), np.eye(2) * np.sqrt(0.5 + 1e-9)], wires=0),
     r"not trace preserving"),
    (lambda: pq.QubitChannel([np.eye(2)], wires=[0, 1]), r"needs 4x4 Kraus matrices"),
    (lambda: pq.QubitChannel([np.eye(8)], wires=[0, 1, 2]), r"1 or 2 wires"),
    (lambda: pq.QubitChannel([[[np.nan, 0], [0, 1]]], wires=0), r"NaN or infinite"),
    (lambda: pq.BitFlip(0.1, wires=[0, 1]), r"acts on 1 wire"),
    (lambda: pq.BitFlip(np.nan, wires=0), r"finite"),
])
def test_bad_parameters_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_engine_refuses_a_matrix_that_is_not_a_pauli_word():
    with pytest.raises(ValueError, match="not a Pauli word"):
        _core.channel_kraus("PauliError", [0.1], np.array([[1, 1], [1, -1]]) / np.sqrt(2))
    with pytest.raises(ValueError, match="unknown channel"):
        _core.channel_kraus("Bitflip", [0.1])
    with pytest.raises(ValueError, match="takes 2 parameter"):
        _core.channel_kraus("ResetError", [0.1])


def test_channels_record_with_constant_weight_and_input_parameters():
    c = pq.Circuit(3)
    w = c.new_weights(2)
    x = c.new_inputs(1)
    with c:
        pq.RX(x[0], wires=0)
        pq.AmplitudeDamping(0.5 * w[0] + 0.1, wires=0)
        pq.GeneralizedAmplitudeDamping(0.2, w[1], wires=1)
        pq.DepolarizingChannel(0.25 * x[0], wires=2)
        pq.PauliError("ZX", 0.05, wires=[2, 0])
        pq.QubitChannel(_K2, wires=1)
    assert pq.frontend.channels.has_channels(c)
    assert c.core.has_channels and not _noiseless().core.has_channels
    angles = c.core.bind(np.array([0.4, 0.9]), np.array([[0.8], [0.2]]))
    np.testing.assert_allclose(angles, [[0.8, 0.3, 0.2, 0.9, 0.2, 0.05], [0.2, 0.3, 0.2, 0.9, 0.05, 0.05]])
    dw, dx = c.core.chain(np.ones(6))
    np.testing.assert_allclose(dw, [0.5, 1.0])
    np.testing.assert_allclose(dx, [1.25])
    # Bound values outside a channel's domain are refused by op and bound.
    with pytest.raises(ValueError, match=r"op 2 \(GeneralizedAmplitudeDamping\): .*p = 1.5 is outside"):
        c.core.bind(np.array([0.4, 1.5]), np.array([[0.8]]))
    with pytest.raises(ValueError, match=r"op 3 \(DepolarizingChannel\)"):
        c.core.bind(np.array([0.4, 0.5]), np.array([[-1.0]]))


def test_engine_circuit_validates_channel_ops():
    with pytest.raises(ValueError, match=r"op 0 \(BitFlip\): wire 3 is out of range for 2 wires"):
        _core.Circuit(2, [("BitFlip", [3], [(0, 0, 1.0, 0.1)], None)], 0, 0)
    with pytest.raises(ValueError, match=r"op 0 \(BitFlip\): takes 1 parameter"):
        _core.Circuit(2, [("BitFlip", [0], [], None)], 0, 0)
    with pytest.raises(ValueError, match=r"op 0 \(PhaseDamping\): PhaseDamping: gamma = 3"):
        _core.Circuit(2, [("PhaseDamping", [0], [(0, 0, 1.0, 3.0)], None)], 0, 0)
    with pytest.raises(ValueError, match=r"op 0 \(QubitChannel\): .*not trace preserving"):
        _core.Circuit(2, [("QubitChannel", [0], [], np.array([np.eye(2) * 0.5]))], 0, 0)
    with pytest.raises(ValueError, match=r"op 0 \(PauliError\): .*Pauli word as a 4x4 matrix"):
        _core.Circuit(2, [("PauliError", [0, 1], [(0, 0, 1.0, 0.1)], np.eye(2))], 0, 0)
    with pytest.raises(ValueError, match=r"wire 1 is repeated"):
        _core.Circuit(2, [("PauliError", [1, 1], [(0, 0, 1.0, 0.1)], np.eye(4))], 0, 0)
    with pytest.raises(ValueError, match=r"unknown gate 'Noise' \(no gate or channel"):
        _core.Circuit(2, [("Noise", [1], [], None)], 0, 0)


def _noiseless():
    c = pq.Circuit(1)
    with c:
        pq.RX(0.1, wires=0)
    return c


def _noisy_circuit():
    c = pq.Circuit(2)
    w = c.new_weights(1)
    with c:
        pq.RY(w[0], wires=0)
        pq.CNOT(wires=[0, 1])
        pq.BitFlip(0.1, wires=1)
    return c


@pytest.mark.parametrize("method", ["statevector"])
def test_methods_without_noise_refuse_channels(method):
    c = _noisy_circuit()
    with pytest.raises(ValueError, match=f"method '{method}' does not simulate noise channels"):
        pq.expval(c, [pq.Z(1)], weights=np.array([0.3]), method=method)
    with pytest.raises(ValueError, match=f"method '{method}' does not simulate noise channels"):
        pq.jacobian(c, [pq.Z(1)], weights=np.array([0.3]), method=method)


def test_engines_refuse_channels_directly():
    c = _noisy_circuit()
    with pytest.raises(ValueError, match=r"'statevector' does not simulate noise channels \(op 2 \(BitFlip\)\)"):
        _core.StateVector(c.core, [[(1.0, [1], "Z")]])
    # The tensor network simulates channels in expectation values; a noisy circuit has no amplitudes.
    with pytest.raises(ValueError, match=r"'tensornet' does not simulate noise channels"):
        _core.tn_amplitudes(c.core, _core.ContractionPlan([("RY", 1)], [(2, -1, "", [0]), (0, 0, "", [1, 0]),
                                                                        (2, -1, "", [1])], [(0, 1, [1]), (2, 3, [])]),
                            np.array([0.3]))
