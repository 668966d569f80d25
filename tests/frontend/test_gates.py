"""The gate table against matrices written independently from PennyLane's conventions
(tests/dense_reference.py), its derivative matrices against finite differences, its parameter-shift rules,
and every gate applied by the state-vector engine inside a circuit."""
import math

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core

TABLE = {g["name"]: g for g in _core.gate_table()}
MATRIX_GATES = sorted(n for n in TABLE if n != "QubitUnitary")


def _wire_counts(name):
    return [1, 2, 3, 4] if TABLE[name]["n_wires"] < 0 else [TABLE[name]["n_wires"]]


CASES = [(name, k) for name in MATRIX_GATES for k in _wire_counts(name)]


def test_table_lists_every_gate_once_and_python_has_a_class_for_each():
    expected = {"Identity", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "Sdg", "T", "Tdg", "SX", "SXdg", "RX",
                "RY", "RZ", "PhaseShift", "Rot", "U3", "CNOT", "CY", "CZ", "CH", "SWAP", "ISWAP", "CRX", "CRY",
                "CRZ", "CRot", "ControlledPhaseShift", "IsingXX", "IsingYY", "IsingZZ", "MultiRZ", "Toffoli",
                "CSWAP", "QubitUnitary"}
    names = [g["name"] for g in _core.gate_table()]
    assert len(names) == len(set(names))
    assert set(names) == expected
    assert set(pq.GATES) == expected
    for name, cls in pq.GATES.items():
        assert cls.name == name
        if name != "QubitUnitary":
            assert cls.num_params == TABLE[name]["n_params"]


@pytest.mark.parametrize("name, k", CASES)
def test_gate_matrix_matches_reference(name, k):
    rng = np.random.default_rng(ref.seed_of(name, k))
    for _ in range(3):
        params = list(rng.uniform(-2 * np.pi, 2 * np.pi, TABLE[name]["n_params"]))
        got = pq.gate_matrix(name, params, k)
        want = ref.gate_matrix(name, params, k)
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(got.conj().T @ got, np.eye(2**k), atol=1e-12)


@pytest.mark.parametrize("name, k", CASES)
def test_structure_flags_agree_with_the_matrix(name, k):
    g = TABLE[name]
    rng = np.random.default_rng(5)
    M = pq.gate_matrix(name, list(rng.uniform(0.1, 3, g["n_params"])), k)
    if g["diagonal"]:
        np.testing.assert_array_equal(M, np.diag(np.diag(M)))
    # the control-off block is the identity
    off = 2**k - 2 ** (k - g["n_controls"])
    np.testing.assert_array_equal(M[:off, :off], np.eye(off))
    np.testing.assert_array_equal(M[:off, off:], 0)
    np.testing.assert_array_equal(M[off:, :off], 0)


PARAM_CASES = [(n, k) for n, k in CASES if TABLE[n]["n_params"] > 0]


@pytest.mark.parametrize("name, k", PARAM_CASES)
def test_derivative_matrices_match_central_differences(name, k):
    rng = np.random.default_rng(ref.seed_of("d", name, k))
    n_params = TABLE[name]["n_params"]
    h = 1e-6
    for _ in range(2):
        p = rng.uniform(-np.pi, np.pi, n_params)
        for j in range(n_params):
            e = np.zeros(n_params)
            e[j] = h
            fd = (ref.gate_matrix(name, p + e, k) - ref.gate_matrix(name, p - e, k)) / (2 * h)
            got = _core.gate_dmatrix(name, list(p), j, k)
            np.testing.assert_allclose(got, fd, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", [n for n in MATRIX_GATES if TABLE[n]["n_params"] == 0])
def test_fixed_gates_have_no_derivative(name):
    with pytest.raises(ValueError, match="has no parameter"):
        _core.gate_dmatrix(name, [], 0, 0)
    assert TABLE[name]["shift_rule"] == 0


_TWO = ((0.5, math.pi / 2), (-0.5, -math.pi / 2))
_CP = (math.sqrt(2) + 1) / (4 * math.sqrt(2))
_CM = (math.sqrt(2) - 1) / (4 * math.sqrt(2))
_FOUR = ((_CP, math.pi / 2), (-_CP, -math.pi / 2), (-_CM, 3 * math.pi / 2), (_CM, -3 * math.pi / 2))


@pytest.mark.parametrize("name, k", PARAM_CASES)
def test_shift_rule_in_table_is_exact(name, k):
    """The table's shift rule, applied to <psi|U^dag O U|psi> with reference matrices, equals the derivative."""
    rule = {2: _TWO, 4: _FOUR}[TABLE[name]["shift_rule"]]
    rng = np.random.default_rng(11)
    dim = 2**k
    psi = rng.normal(size=dim) + 1j * rng.normal(size=dim)
    psi /= np.linalg.norm(psi)
    A = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    O = A + A.conj().T
    n_params = TABLE[name]["n_params"]
    p = rng.uniform(-np.pi, np.pi, n_params)

    def f(q):
        v = ref.gate_matrix(name, q, k) @ psi
        return np.vdot(v, O @ v).real

    for j in range(n_params):
        e = np.zeros(n_params)
        e[j] = 1.0
        shifted = sum(c * f(p + s * e) for c, s in rule)
        h = 1e-6
        fd = (f(p + h * e) - f(p - h * e)) / (2 * h)
        assert abs(shifted - fd) < 1e-7


def _prep_ops(n, rng):
    """A random entangled state: pyqml ops and dense gates."""
    ops, dense = [], []
    for w in range(n):
        a, b = rng.uniform(0, 2 * np.pi, 2)
        ops += [pq.RY(a, wires=w), pq.RZ(b, wires=w)]
        dense += [(ref.ry(a), [w]), (ref.rz(b), [w])]
    for w in range(n - 1):
        ops.append(pq.CNOT(wires=[w, w + 1]))
        dense.append((ref.controlled(ref.X), [w, w + 1]))
    return ops, dense


@pytest.mark.parametrize("name, k", CASES)
def test_each_gate_applied_in_a_circuit(name, k):
    """Each gate on scattered and reversed wires of a 5-wire random state, in both precisions."""
    n = 5
    rng = np.random.default_rng(ref.seed_of("c", name, k))
    for wires in (list(range(k)), list(range(k))[::-1], [int(w) for w in rng.permutation(n)[:k]]):
        ops, dense = _prep_ops(n, rng)
        params = list(rng.uniform(-np.pi, np.pi, TABLE[name]["n_params"]))
        ops.append(pq.GATES[name](*params, wires=wires))
        dense.append((ref.gate_matrix(name, params, k), wires))
        c = pq.Circuit(n, ops)
        want = ref.simulate(n, dense)
        np.testing.assert_allclose(pq.state(c), want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(pq.state(c, precision="complex64"), want, atol=2e-6, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_qubit_unitary_random(k):
    rng = np.random.default_rng(40 + k)
    n = 4
    for _ in range(4):
        U = ref.random_unitary(2**k, rng)
        wires = [int(w) for w in rng.permutation(n)[:k]]
        ops, dense = _prep_ops(n, rng)
        ops.append(pq.QubitUnitary(U, wires=wires))
        dense.append((U, wires))
        c = pq.Circuit(n, ops)
        np.testing.assert_allclose(pq.state(c), ref.simulate(n, dense), atol=1e-12, rtol=0)


def test_gate_classes_accept_pennylane_call_forms():
    a = pq.RX(0.3, 1)
    b = pq.RX(0.3, wires=[1])
    assert a.wires == b.wires == (1,) and a.params == b.params == [0.3]
    assert pq.CNOT([0, 2]).wires == (0, 2)
    assert pq.Rot(0.1, 0.2, 0.3, wires=0).params == [0.1, 0.2, 0.3]
    assert pq.MultiRZ(0.5, wires=[3, 1, 2]).wires == (3, 1, 2)
    assert pq.CPhase is pq.ControlledPhaseShift and pq.H is pq.Hadamard
