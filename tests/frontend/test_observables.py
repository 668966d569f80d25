"""Observables: the Pauli algebra against dense matrices (tests/dense_reference.py), Hermiticity checks,
and expectation values of sums with identity terms, repeated wires and many observables at once."""
import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq


def test_single_paulis():
    for op, M in ((pq.X, ref.X), (pq.Y, ref.Y), (pq.Z, ref.Z), (pq.PauliX, ref.X)):
        np.testing.assert_allclose((1.0 * op(0)).matrix(1), M)
        np.testing.assert_allclose(op(1).__mul__(1.0).matrix(2), np.kron(np.eye(2), M))
    np.testing.assert_allclose((2.0 * pq.Identity(0)).matrix(2), 2 * np.eye(4))


@pytest.mark.parametrize("seed", range(6))
def test_algebra_matches_dense_matrices(seed):
    rng = np.random.default_rng(seed)
    n = 3
    letters = {"X": pq.X, "Y": pq.Y, "Z": pq.Z}

    def random_word():
        k = int(rng.integers(1, 4))
        wires = [int(w) for w in rng.integers(0, n, size=k)]  # repeats allowed: products on one wire
        ls = [str(rng.choice(list("XYZ"))) for _ in wires]
        o = letters[ls[0]](wires[0])
        M = ref.full_operator(ref.PAULI[ls[0]], [wires[0]], n)
        for w, letter in zip(wires[1:], ls[1:]):
            o = o @ letters[letter](w)
            M = M @ ref.full_operator(ref.PAULI[letter], [w], n)
        return o, M

    a, A = random_word()
    b, B = random_word()
    c1, c2 = rng.normal(size=2)
    np.testing.assert_allclose((c1 * a + b).matrix(n), c1 * A + B, atol=1e-14)
    np.testing.assert_allclose((a - c2 * b).matrix(n), A - c2 * B, atol=1e-14)
    np.testing.assert_allclose((a @ b).matrix(n), A @ B, atol=1e-14)
    np.testing.assert_allclose((-a).matrix(n), -A, atol=1e-14)
    np.testing.assert_allclose((a + 1.5).matrix(n), A + 1.5 * np.eye(2**n), atol=1e-14)
    np.testing.assert_allclose((2.0 - a).matrix(n), 2 * np.eye(2**n) - A, atol=1e-14)


def test_pauli_products_on_one_wire():
    assert (pq.X(0) @ pq.Y(0)) == pq.Observable({((0, "Z"),): 1j})
    assert (pq.Y(0) @ pq.X(0)) == pq.Observable({((0, "Z"),): -1j})
    assert (pq.Z(1) @ pq.Z(1)) == pq.Observable({(): 1.0})
    assert (pq.X(0) @ pq.Z(1)).wires == [0, 1]
    # X Y + Y X = 0 vanishes exactly
    assert (pq.X(0) @ pq.Y(0) + pq.Y(0) @ pq.X(0)).terms == {}


def test_hamiltonian_matches_sum():
    coeffs = [0.5, -1.2, 2.0]
    ops = [pq.Z(0) @ pq.Z(1), pq.X(1), pq.Y(0) @ pq.X(2)]
    H = pq.Hamiltonian(coeffs, ops)
    np.testing.assert_allclose(H.matrix(3), sum(c * (1.0 * o).matrix(3) for c, o in zip(coeffs, ops)), atol=1e-14)
    with pytest.raises(ValueError, match="2 coefficients for 3 observables"):
        pq.Hamiltonian([1.0, 2.0], ops)


@pytest.mark.parametrize("bad", [pq.X(0) @ pq.Y(0), 1j * pq.Z(1), pq.X(0) + 0.5j * pq.Y(1)])
def test_non_hermitian_observables_are_refused(bad):
    c = pq.Circuit(2, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="not Hermitian"):
        pq.expval(c, bad, method="statevector")
    with pytest.raises(ValueError, match="not Hermitian"):
        pq.var(c, bad)
    with pytest.raises(ValueError, match="not Hermitian"):
        pq.jacobian(c, [pq.Z(0), bad], method="statevector")


def test_hermitian_products_of_non_hermitian_parts_are_fine():
    # (X Y) (Y X) = 1 and i X Y = -Z
    c = pq.Circuit(1, [pq.RY(0.3, wires=0)])
    o = 1j * pq.X(0) @ pq.Y(0)
    assert pq.expval(c, o, method="statevector") == pytest.approx(-np.cos(0.3), abs=1e-14)


def test_many_observables_with_identity_terms_against_dense():
    rng = np.random.default_rng(4)
    n = 4
    ops = []
    dense = []
    for w in range(n):
        a, b = rng.uniform(0, 2 * np.pi, 2)
        ops += [pq.RY(a, wires=w), pq.RZ(b, wires=w)]
        dense += [(ref.ry(a), [w]), (ref.rz(b), [w])]
    for w in range(n - 1):
        ops.append(pq.CZ(wires=[w, w + 1]))
        dense.append((ref.controlled(ref.Z), [w, w + 1]))
    c = pq.Circuit(n, ops)
    psi = ref.simulate(n, dense)
    observables = [
        0.3 + pq.Z(0),
        pq.X(3) @ pq.Y(1) - 2.0,
        pq.Hamiltonian([1.0, -0.5, 0.25], [pq.Z(0) @ pq.Z(1), pq.X(2), pq.Y(3) @ pq.Z(0) @ pq.X(1)]),
        pq.Z(2) @ pq.Z(2),  # identity
        pq.X(0) @ pq.X(1) @ pq.X(2) @ pq.X(3),
    ]
    want = [np.vdot(psi, o.matrix(n) @ psi).real for o in observables]
    np.testing.assert_allclose(pq.expval(c, observables, method="statevector"), want, atol=1e-12)
    var_want = [np.vdot(psi, o.matrix(n) @ (o.matrix(n) @ psi)).real - e**2 for o, e in zip(observables, want)]
    np.testing.assert_allclose(pq.var(c, observables), var_want, atol=1e-12)


def test_observable_wire_out_of_range():
    c = pq.Circuit(2, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="wire 5 is out of range for 2 wires"):
        pq.expval(c, pq.Z(5), method="statevector")


def test_non_observable_operation_is_refused():
    with pytest.raises(TypeError, match="not an observable"):
        pq.expval(pq.Circuit(1), pq.H(wires=0) @ pq.Z(0))
    with pytest.raises(TypeError, match="expected an observable"):
        pq.expval(pq.Circuit(1), "Z0")
