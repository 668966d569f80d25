"""The lane path's plan (cpp/src/statevector/lanes.cpp): permutations (CNOT, Toffoli, SWAP, CSWAP) as
relabellings of the amplitude tables instead of swaps, observables through the final relabelling (one
pass for all diagonal ones), and the row-shared gates bound once per call when the weights are shared.
Checked on permutation-heavy random circuits against the same rows one at a time (the per-row kernels,
which swap amplitudes), the dense reference and central finite differences, for shared and per-row
weights, diagonal, non-diagonal and mixed observables, both precisions."""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, RandomCircuit, random_pauli_sum

import pyqml as pq

PERMUTATIONS = ["CNOT", "SWAP", "Toffoli", "CSWAP"]
OTHERS = ["Rot", "RX", "RY", "RZ", "CRX", "CRot", "CZ", "IsingZZ", "PhaseShift", "PauliX", "Hadamard",
          "MultiRZ", "QubitUnitary", "ControlledPhaseShift", "IsingXY"]


def _names():
    # Permutations three times as often as each other gate.
    return PERMUTATIONS * 3 + [g for g in OTHERS if g in NAMES]


def _ring(rc, n):
    """A CNOT ring and a SWAP ring after the random gates (spec entries of RandomCircuit)."""
    rc.spec += [("CNOT", [i, (i + 1) % n], [], None) for i in range(n)]
    rc.spec += [("SWAP", [i, (i + 2) % n], [], None) for i in range(n) if (i + 2) % n != i]
    rc.spec += [("RY", [i], [(2, i % rc.n_inputs, 0.7, 0.1)], None) for i in range(n)]


def _circuit(n, seed, n_gates=None):
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates or 6 * n, rng, n_inputs=3, names=_names())
    _ring(rc, n)
    return rc, rc.circuit(), rng


def _z_observables(n, rng):
    """Diagonal observables: sums of Z words with real coefficients (the lanes' one-pass case)."""
    out = []
    for _ in range(3):
        terms = []
        obs = pq.Observable()
        for _ in range(2):
            wires = [int(v) for v in rng.permutation(n)[:int(rng.integers(1, n + 1))]]
            c = float(rng.normal())
            terms.append((c, {v: "Z" for v in wires}))
            t = pq.Observable({(): c})
            for v in wires:
                t = t @ pq.Observable.pauli("Z", v)
            obs = obs + t
        out.append((obs, terms))
    return out


def _observables(kind, n, rng):
    if kind == "diagonal":
        pairs = _z_observables(n, rng)
    elif kind == "pauli":
        pairs = [random_pauli_sum(n, rng, n_terms=3) for _ in range(3)]
    else:  # mixed: diagonal and non-diagonal observables together
        pairs = _z_observables(n, rng)[:2] + [random_pauli_sum(n, rng, n_terms=3)]
    obs, terms = zip(*pairs)
    return list(obs), list(terms)


def _rows_one_at_a_time(ex, W, X):
    vals, dw, dx = [], [], []
    for r in range(X.shape[0]):
        v, a, b = ex.jacobian(W[r:r + 1] if W.ndim == 2 else W, X[r:r + 1])
        vals.append(v[0])
        dw.append(a[0])
        dx.append(b[0])
    return np.array(vals), np.array(dw), np.array(dx)


@pytest.mark.parametrize("kind", ["diagonal", "pauli", "mixed"])
@pytest.mark.parametrize("n", [3, 5])
def test_permutation_heavy_lanes_match_rows_one_at_a_time(n, kind):
    rc, c, rng = _circuit(n, ref.seed_of("relabel", n, kind))
    obs, _ = _observables(kind, n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, 3))
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    v1, dw1, dx1 = _rows_one_at_a_time(ex, w, X)
    for rows in list(range(1, 20)) + [31, 40, 67]:
        v, dw, dx = ex.jacobian(w, X[:rows])
        np.testing.assert_allclose(v, v1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw, dw1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dx, dx1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(ex.expval(w, X[:rows]), v1[:rows], atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["diagonal", "mixed"])
def test_per_row_weights_and_vjp_through_relabelled_lanes(kind):
    n = 4
    rc, c, rng = _circuit(n, ref.seed_of("relabel-per-row", kind))
    obs, _ = _observables(kind, n, rng)
    rows = 21
    X = rng.normal(size=(rows, 3))
    W = rng.uniform(-np.pi, np.pi, (rows, rc.n_weights))
    w = W[0]
    cot = rng.normal(size=(rows, len(obs)))
    exj = c.executor(obs, "statevector", "complex128", "jacobian")
    exv = c.executor(obs, "statevector", "complex128", "vjp")
    for weights, per_row in ((W, True), (w, False)):
        vals, dw, dx = _rows_one_at_a_time(exj, weights, X)
        v, gw, gx = exj.jacobian(weights, X)
        np.testing.assert_allclose(v, vals, atol=1e-12, rtol=0)
        np.testing.assert_allclose(gw, dw, atol=1e-12, rtol=0)
        np.testing.assert_allclose(gx, dx, atol=1e-12, rtol=0)
        v, gw, gx = exv.vjp(weights, X, cot)
        np.testing.assert_allclose(v, vals, atol=1e-12, rtol=0)
        want_w = np.einsum("ro,rok->rk", cot, dw)
        np.testing.assert_allclose(gw, want_w if per_row else want_w.sum(axis=0), atol=1e-11, rtol=0)
        np.testing.assert_allclose(gx, np.einsum("ro,rok->rk", cot, dx), atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
def test_relabelled_lanes_against_the_dense_reference_and_finite_differences(kind):
    n = 4
    rc, c, rng = _circuit(n, ref.seed_of("relabel-dense", kind))
    obs, terms = _observables(kind, n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(4, 3))
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, method="statevector")

    def dense(wv, Xv):
        return np.array([[ref.expval_var(t, rc.state(wv, x), rc.n)[0] for t in terms] for x in Xv])

    np.testing.assert_allclose(v, dense(w, X), atol=1e-12, rtol=0)
    h = 1e-6
    for k in range(0, rc.n_weights, max(1, rc.n_weights // 3)):
        e = np.zeros_like(w)
        e[k] = h
        np.testing.assert_allclose(dw[:, :, k], (dense(w + e, X) - dense(w - e, X)) / (2 * h), atol=1e-8)
    for j in range(X.shape[1]):
        e = np.zeros_like(X)
        e[:, j] = h
        np.testing.assert_allclose(dx[:, :, j], (dense(w, X + e) - dense(w, X - e)) / (2 * h), atol=1e-8)


def test_complex64_relabelled_lanes():
    n = 5
    rc, c, rng = _circuit(n, ref.seed_of("relabel-c64"))
    obs, _ = _observables("mixed", n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(19, 3))
    ex64 = c.executor(obs, "statevector", "complex64", "jacobian")
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    v64, dw64, dx64 = ex64.jacobian(w, X)
    v, dw, dx = ex.jacobian(w, X)
    for a, b in ((v64, v), (dw64, dw), (dx64, dx)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    v1, dw1, dx1 = _rows_one_at_a_time(ex64, w, X)  # the per-row complex64 kernels
    for a, b in ((v64, v1), (dw64, dw1), (dx64, dx1)):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=0)


def test_only_permutations_and_a_fixed_state():
    # No trainable gate at all in front of the observables: a register of permutations only (every basis
    # state relabelled, nothing applied) and inputs on the first gates.
    n = 4
    c = pq.Circuit(n)
    x = c.new_inputs(n)
    with c:
        for j in range(n):
            pq.RY(x[j], wires=[j])
        pq.Toffoli(wires=[0, 1, 2])
        pq.CSWAP(wires=[3, 0, 1])
        pq.SWAP(wires=[2, 3])
        for j in range(n):
            pq.CNOT(wires=[j, (j + 1) % n])
    obs = [pq.Observable.pauli("Z", i) for i in range(n)] + [pq.Observable.pauli("X", 0) @ pq.Observable.pauli("Y", 2)]
    X = np.random.default_rng(5).uniform(-2, 2, (9, n))
    gates = lambda xv: [(ref.ry(xv[j]), [j]) for j in range(n)] + [
        (ref.gate_matrix("Toffoli"), [0, 1, 2]), (ref.gate_matrix("CSWAP"), [3, 0, 1]),
        (ref.gate_matrix("SWAP"), [2, 3])] + [(ref.gate_matrix("CNOT"), [j, (j + 1) % n]) for j in range(n)]
    terms = [[(1.0, {i: "Z"})] for i in range(n)] + [[(1.0, {0: "X", 2: "Y"})]]

    def dense(Xv):
        return np.array([[ref.expval_var(t, ref.simulate(n, gates(xv)), n)[0] for t in terms] for xv in Xv])

    v, _, dx = pq.jacobian(c, obs, inputs=X, method="statevector")
    np.testing.assert_allclose(v, dense(X), atol=1e-12, rtol=0)
    h = 1e-6
    for j in range(n):
        e = np.zeros_like(X)
        e[:, j] = h
        np.testing.assert_allclose(dx[:, :, j], (dense(X + e) - dense(X - e)) / (2 * h), atol=1e-8)


@pytest.mark.parametrize("precision,tol", [("complex128", 1e-12), ("complex64", 2e-6)])
def test_long_product_state_prefix(precision, tol):
    # Single-wire gates before the first entangling gate (built as a product state on lanes, their
    # derivatives from contracted lambdas): dense and diagonal gates, constant ones between trainable ones,
    # several on one wire, a wire with none; then entanglers and more trainable gates.
    n = 5
    rng = np.random.default_rng(ref.seed_of("relabel-prefix", precision))
    rc = RandomCircuit(n, 0, rng, n_inputs=3)
    W = lambda k: (1, k, 1.0, 0.0)  # noqa: E731
    X = lambda j: (2, j, 1.3, 0.2)  # noqa: E731
    C = lambda v: (0, 0, 1.0, v)  # noqa: E731
    rc.spec = [
        ("RX", [0], [X(0)], None), ("RZ", [0], [W(0)], None), ("Hadamard", [0], [], None),
        ("PhaseShift", [0], [W(1)], None), ("Rot", [0], [W(2), X(1), W(3)], None),
        ("RY", [1], [C(0.4)], None), ("S", [1], [], None), ("RZ", [1], [X(2)], None),
        ("Rot", [2], [W(4), W(5), W(6)], None), ("T", [2], [], None), ("RY", [2], [W(7)], None),
        ("MultiRZ", [3], [W(8)], None),
        ("CNOT", [0, 1], [], None), ("IsingZZ", [1, 2], [W(9)], None), ("CRot", [2, 4], [W(10), X(0), W(11)], None),
        ("Toffoli", [4, 0, 3], [], None), ("RY", [3], [W(12)], None), ("SWAP", [0, 4], [], None),
        ("RX", [4], [W(13)], None),
    ]
    rc.n_weights = 14
    c = rc.circuit()
    obs, terms = _observables("mixed", n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    Xs = rng.normal(size=(13, 3))
    ex = c.executor(obs, "statevector", precision, "jacobian")
    v1, dw1, dx1 = _rows_one_at_a_time(ex, w, Xs)
    v, dw, dx = ex.jacobian(w, Xs)
    for a, b in ((v, v1), (dw, dw1), (dx, dx1)):
        np.testing.assert_allclose(a, b, atol=tol, rtol=0)
    if precision != "complex128":
        return

    def dense(wv, Xv):
        return np.array([[ref.expval_var(t, rc.state(wv, x), rc.n)[0] for t in terms] for x in Xv])

    Xs = Xs[:3]
    np.testing.assert_allclose(v[:3], dense(w, Xs), atol=1e-12, rtol=0)
    h = 1e-6
    for k in (0, 1, 3, 5, 7, 8, 12):
        e = np.zeros_like(w)
        e[k] = h
        np.testing.assert_allclose(dw[:3, :, k], (dense(w + e, Xs) - dense(w - e, Xs)) / (2 * h), atol=1e-8)
    for j in range(3):
        e = np.zeros_like(Xs)
        e[:, j] = h
        np.testing.assert_allclose(dx[:3, :, j], (dense(w, Xs + e) - dense(w, Xs - e)) / (2 * h), atol=1e-8)
