"""The shared-suffix path of the state vector (cpp/src/statevector/shared_suffix.cpp): values and VJPs of a
batch through the suffix unitary U (the gates after the last input-dependent one), one GEMM for every row's
final state and the adjoint sweep on the D x D matrix X = sum_r |phi_r><lambda_r|.

Checked against the row paths (lanes / per-row kernels, the path switched off) and the dense reference on
random circuits of 1..7 wires whose suffix holds every gate of the table, after product embeddings (RX, RY,
RZ, Rot, Hadamard-prefixed) and non-product prefixes (random gates reading inputs and weights), for row
counts 1..67; the VJP against central finite differences of the dense reference; complex64 against
complex128; the cases that fall back (per-row weights, an input in the last gate) still correct.

The kept forward (``StateVector.forward`` / ``vjp_saved``, ``CompiledQNode.forward`` and ``vjp(..., saved=)``):
a VJP after the forward on the same batch runs only the backward part when the path kept the final states;
checked the same way (row counts 1..67, both precisions, finite differences), and a handle whose weights or
inputs changed after the forward (in place or as other arrays) makes the VJP recompute; handles of another
engine, with input gradients asked for, and on several threads at once; the demo model's training losses
against the row paths."""
import copy
import threading

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, TABLE, RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

SV = {"method": "statevector"}


@pytest.fixture
def forced():
    """The shared-suffix path whenever it applies (whatever the cost model says), restored after."""
    _core._set_sv_shared_suffix(True, True)
    yield
    _core._set_sv_shared_suffix(True)


def _off():
    _core._set_sv_shared_suffix(False)


def _embedding(kind, n, n_inputs, rng):
    """Prefix spec entries (RandomCircuit's format) reading the inputs."""
    def x(j):
        return (2, j % n_inputs, float(rng.uniform(0.5, 1.5)), float(rng.uniform(-0.5, 0.5)))

    spec = []
    for w in range(n):
        if kind in ("RX", "RY", "RZ"):
            if kind == "RZ":
                spec.append(("Hadamard", [w], [], None))
            spec.append((kind, [w], [x(w)], None))
        elif kind == "Rot":
            spec.append(("Rot", [w], [x(w), x(w + 1), x(w + 2)], None))
        elif kind == "H":
            spec.append(("Hadamard", [w], [], None))
            spec.append(("RY", [w], [x(w)], None))
            spec.append(("PhaseShift", [w], [x(w + 1)], None))
    return spec


def _circuit(n, prefix, seed, n_inputs=3):
    """A RandomCircuit: the prefix (an embedding, or random gates reading inputs and weights), then a random
    suffix over every gate of the table (constants and weights only)."""
    rng = np.random.default_rng(seed)
    names = [g for g in NAMES if TABLE[g]["n_wires"] <= n]
    if prefix == "random":
        pre = RandomCircuit(n, 3 + n, rng, n_inputs=n_inputs, names=names)
        spec, nw = list(pre.spec), pre.n_weights
        spec.append(("RY", [0], [(2, 0, 1.0, 0.3)], None))  # the last prefix gate reads an input
    else:
        spec, nw = _embedding(prefix, n, n_inputs, rng), 0
    suf = RandomCircuit(n, 2 * len(names), rng, n_inputs=0, names=names)
    for name, wires, params, U in suf.spec:
        spec.append((name, wires, [(k, i + nw if k == 1 else i, s, o) for k, i, s, o in params], U))
    rc = copy.copy(suf)
    rc.spec, rc.n_weights, rc.n_inputs = spec, nw + suf.n_weights, n_inputs
    return rc, rng


def _dense_values(rc, terms, w, X):
    return np.array([[ref.expval_var(t, rc.state(w, x), rc.n)[0] for t in terms] for x in X])


def _executor(c, obs, precision="complex128"):
    return c.executor(obs, "statevector", precision, "vjp")


def _both(c, obs, w, X, cot, precision="complex128"):
    """(values, dw, dx) of the shared-suffix path (forced) and of the row paths."""
    ex = _executor(c, obs, precision)
    assert ex._sim._shared_suffix_split >= 0
    _core._set_sv_shared_suffix(True, True)
    assert ex._sim._takes_shared_suffix(len(X), False) and ex._sim._takes_shared_suffix(len(X), True)
    shared = (ex.expval(w, X),) + tuple(ex.vjp(w, X, cot))
    _off()
    try:
        rows = (ex.expval(w, X),) + tuple(ex.vjp(w, X, cot))
    finally:
        _core._set_sv_shared_suffix(True, True)
    return shared, rows


# Every width 1..7 with two prefixes each; every prefix kind at three or more widths.
CASES = [(1, "RX"), (1, "random"), (2, "RY"), (2, "H"), (3, "RZ"), (3, "random"), (4, "Rot"), (4, "RX"),
         (5, "H"), (5, "random"), (6, "Rot"), (6, "RZ"), (7, "RY"), (7, "random"), (3, "Rot"), (6, "H")]


@pytest.mark.parametrize("n, prefix", CASES)
def test_matches_the_row_paths_and_the_dense_reference(forced, n, prefix):
    rc, rng = _circuit(n, prefix, ref.seed_of("shared-suffix", n, prefix))
    c = rc.circuit()
    obs, terms = zip(*[random_pauli_sum(n, rng, n_terms=3) for _ in range(2)])
    obs = list(obs) + [pq.Observable.pauli("Z", n - 1)]
    terms = list(terms) + [[(1.0, {n - 1: "Z"})]]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, rc.n_inputs))
    cot = rng.normal(size=(67, len(obs)))
    for rows in ([1, 2, 9, 67] if n <= 4 else [3, 67]):
        s, r = _both(c, obs, w, X[:rows], cot[:rows])
        for a, b in zip(s, r):
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    dense = _dense_values(rc, terms, w, X[:5])
    np.testing.assert_allclose(_executor(c, obs).expval(w, X[:5]), dense, atol=1e-12, rtol=0)


@pytest.mark.parametrize("prefix", ["Rot", "random"])
def test_vjp_against_central_finite_differences(forced, prefix):
    rc, rng = _circuit(3, prefix, ref.seed_of("shared-suffix-fd", prefix))
    c = rc.circuit()
    obs, terms = zip(*[random_pauli_sum(3, rng, n_terms=3) for _ in range(2)])
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(6, rc.n_inputs))
    cot = rng.normal(size=(6, len(obs)))
    _, dw, dx = _executor(c, list(obs)).vjp(w, X, cot)

    def f(wv, Xv):
        return float(np.sum(cot * _dense_values(rc, terms, wv, Xv)))

    h = 1e-6
    for k in range(rc.n_weights):
        e = np.zeros_like(w)
        e[k] = h
        assert abs(dw[k] - (f(w + e, X) - f(w - e, X)) / (2 * h)) < 1e-8
    for r in (0, 5):
        for j in range(X.shape[1]):
            e = np.zeros_like(X)
            e[r, j] = h
            assert abs(dx[r, j] - (f(w, X + e) - f(w, X - e)) / (2 * h)) < 1e-8


@pytest.mark.parametrize("n", [2, 4, 7])
def test_complex64_agrees_with_complex128(forced, n):
    rc, rng = _circuit(n, "Rot", ref.seed_of("shared-suffix-c64", n))
    c = rc.circuit()
    obs = [random_pauli_sum(n, rng, n_terms=3)[0] for _ in range(2)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(23, rc.n_inputs))
    cot = rng.normal(size=(23, len(obs)))
    s64, r64 = _both(c, obs, w, X, cot, "complex64")
    s, _ = _both(c, obs, w, X, cot)
    for a, b, d in zip(s64, r64, s):
        np.testing.assert_allclose(a, d, atol=1e-5 * max(1.0, np.abs(d).max()), rtol=0)
        np.testing.assert_allclose(a, b, atol=1e-5 * max(1.0, np.abs(d).max()), rtol=0)


def test_need_dx_false_skips_the_input_gradients(forced):
    rc, rng = _circuit(4, "RX", ref.seed_of("shared-suffix-nodx"))
    c = rc.circuit()
    obs = [random_pauli_sum(4, rng)[0]]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(40, rc.n_inputs))
    cot = rng.normal(size=(40, 1))
    ex = _executor(c, obs)
    v, dw, dx = ex.vjp(w, X, cot)
    v2, dw2, dx2 = ex.vjp(w, X, cot, need_dx=False)
    assert dx2 is None and dx.shape == (40, rc.n_inputs)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(dw, dw2)
    _off()
    try:  # the row paths take need_dx too
        v3, dw3, dx3 = ex.vjp(w, X, cot, need_dx=False)
    finally:
        _core._set_sv_shared_suffix(True, True)
    assert dx3 is None
    np.testing.assert_allclose(dw3, dw, atol=1e-12, rtol=0)


def test_a_prefix_that_reads_weights_adds_its_gradient_without_dx(forced):
    rc, rng = _circuit(3, "random", ref.seed_of("shared-suffix-prefix-w"))
    assert any(k == 1 for _, _, ps, _ in rc.spec[:6] for k, *_ in ps)
    c = rc.circuit()
    obs = [random_pauli_sum(3, rng)[0]]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(30, rc.n_inputs))
    cot = rng.normal(size=(30, 1))
    s, r = _both(c, obs, w, X, cot)
    _, dw, dx = _executor(c, obs).vjp(w, X, cot, need_dx=False)
    assert dx is None
    np.testing.assert_allclose(dw, r[2], atol=1e-12, rtol=0)


def test_cases_that_fall_back_are_still_correct(forced):
    rc, rng = _circuit(3, "RY", ref.seed_of("shared-suffix-fallback"))
    obs, terms = zip(*[random_pauli_sum(3, rng) for _ in range(2)])
    X = rng.normal(size=(12, rc.n_inputs))
    cot = rng.normal(size=(12, 2))
    # Per-row weights: the row paths.
    W = rng.uniform(-np.pi, np.pi, (12, rc.n_weights))
    c = rc.circuit()
    v, dw, dx = _executor(c, list(obs)).vjp(W, X, cot)
    np.testing.assert_allclose(v, np.array([_dense_values(rc, terms, W[r], X[r:r + 1])[0] for r in range(12)]),
                               atol=1e-12, rtol=0)
    _, jw, jx = pq.jacobian(c, list(obs), weights=W, inputs=X, **SV)
    np.testing.assert_allclose(dw, np.einsum("ro,rok->rk", cot, jw), atol=1e-12, rtol=0)
    np.testing.assert_allclose(dx, np.einsum("ro,rok->rk", cot, jx), atol=1e-12, rtol=0)
    # An input in the last gate: no suffix to share.
    rc.spec.append(("RX", [1], [(2, 1, 0.7, 0.1)], None))
    c = rc.circuit()
    ex = _executor(c, list(obs))
    assert ex._sim._shared_suffix_split == -1
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    np.testing.assert_allclose(ex.expval(w, X), _dense_values(rc, terms, w, X), atol=1e-12, rtol=0)
    # An input in the middle: the suffix after it is shared.
    rc.spec.insert(len(rc.spec) // 2, ("CRX", [2, 0], [(2, 2, 1.1, 0.0)], None))
    rc.spec.pop()
    c = rc.circuit()
    s, r = _both(c, list(obs), w, X, cot)
    for a, b in zip(s, r):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    np.testing.assert_allclose(s[0], _dense_values(rc, terms, w, X), atol=1e-12, rtol=0)


def _seed_qnn(layers=2):
    @pq.qnode(wires=4, method="statevector")
    def qnn(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    return qnn


def test_the_cost_model_takes_the_path_where_it_measured_faster():
    # Measured on one thread (bench/results/shared_suffix.md, 2026-12-02): the seed QNN's 2 layers and 8 layers
    # at 150 and 1000 rows ran faster on this path (values, the VJP without input gradients, and the kept pair
    # of both); at 8 rows the lanes were faster (U's construction and the sweep on the 2n-wire register cost
    # more than 8 rows' lanes); VJPs with input gradients stay on the lanes.
    before = pq.get_num_threads()
    try:  # on one thread (the row paths spread rows over threads, this path does not)
        pq.set_num_threads(1)
        for layers in (2, 8):
            ex = _seed_qnn().compile({"weights": (layers, 4, 3)}, 4).executor()
            for rows in (150, 1000):
                assert ex._sim._takes_shared_suffix(rows, False) and ex._sim._takes_shared_suffix(rows, True, False)
                assert ex._sim._keeps_shared_suffix(rows)
                assert not ex._sim._takes_shared_suffix(rows, True, True)  # input gradients: the lanes
            assert not ex._sim._takes_shared_suffix(8, False) and not ex._sim._keeps_shared_suffix(8)
    finally:
        pq.set_num_threads(before)


def test_the_seed_qnn_on_the_path_matches_the_lanes():
    rng = np.random.default_rng(ref.seed_of("shared-suffix-seed"))
    X = rng.normal(size=(150, 4))
    w = rng.uniform(-np.pi, np.pi, (2, 4, 3))
    qnn = _seed_qnn()
    cq = qnn.compile({"weights": (2, 4, 3)}, 4)
    ex = cq.executor()
    _core._set_sv_shared_suffix(True, True)
    cot = rng.normal(size=(150, 4))
    flat = cq.pack({"weights": w})
    v, dw, dx = cq.vjp(flat, X, cot)
    v2, dw2, dx2 = cq.vjp(flat, X, cot, need_dx=False)
    assert dx2 is None
    _off()
    try:
        r = cq.vjp(flat, X, cot)
        assert not ex._sim._takes_shared_suffix(150, False)
    finally:
        _core._set_sv_shared_suffix(True)
    assert not ex._sim._takes_shared_suffix(2, False)  # the cost model: too few rows to pay for U
    for a, b in zip((v, dw, dx), r):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw2, r[1], atol=1e-12, rtol=0)


def test_results_do_not_depend_on_the_thread_count():
    rc, rng = _circuit(5, "Rot", ref.seed_of("shared-suffix-threads"))
    c = rc.circuit()
    obs = [random_pauli_sum(5, rng)[0] for _ in range(2)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(150, rc.n_inputs))
    cot = rng.normal(size=(150, 2))
    ex = _executor(c, obs)
    before = pq.get_num_threads()
    _core._set_sv_shared_suffix(True, True)
    try:
        pq.set_num_threads(1)
        a = ex.vjp(w, X, cot)
        pq.set_num_threads(2)
        b = ex.vjp(w, X, cot)
    finally:
        pq.set_num_threads(before)
        _core._set_sv_shared_suffix(True)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_flops_count_the_path_taken(forced):
    # RX(x) then RY(w) on one wire, <Z>: U on the 2-wire register is one dense 2x2 on 4 amplitudes (14 * 4);
    # per row the embedding's 2x2 times |0> (4 complex multiplies + 2 adds = 28), the GEMM 8 D^2 = 32 and
    # <Z> from the diagonal 2 * (3 + 2) = 10.
    c = pq.Circuit(1)
    x = c.new_inputs(1)
    w = c.new_weights(1)
    with c:
        pq.RX(x[0], wires=0)
        pq.RY(w[0], wires=0)
    ex = c.executor([pq.Observable.pauli("Z", 0)], "statevector", "complex128", "vjp")
    assert ex.flops(10)["values"] == 56 + 10 * 70
    # vjp: lambda 2 * (2 + 2) a row, the X GEMM 32 a row, the sweep over RY on 2 wires (un-apply phi 56,
    # overlap 4 entries * 8 on 2 groups = 64, derivative 4 * 4 + 2 = 18); with dx the lambdas at the split
    # (32 a row) and the product prefix's gradient: RX times |0> for the factor (28), the reduced vector (2
    # complex multiply-adds, 16) and lambda contracted with the factor (2 complex multiplies, 1 add: 14), the
    # wire's vector again (28), dRX v (28), its product with mu (14), the doubling (2) and mu <- mu RX (28).
    assert ex.flops(10, need_dx=False)["vjp"] == 56 + 10 * 70 + 10 * (8 + 32) + 56 + 64 + 18
    assert ex.flops(10)["vjp"] == 56 + 10 * 70 + 10 * (8 + 32) + 56 + 64 + 18 + 10 * (32 + 28 + 30 + 28 + 44 + 28)
    _off()
    try:
        per_row = ex.flops()
        assert ex.flops(10)["values"] == 10 * per_row["values"]
        assert ex.flops(10)["vjp"] == 10 * per_row["vjp"]
    finally:
        _core._set_sv_shared_suffix(True, True)


def test_a_nan_input_raises_naming_the_row(forced):
    rc, rng = _circuit(3, "RX", ref.seed_of("shared-suffix-nan"))
    c = rc.circuit()
    ex = _executor(c, [pq.Observable.pauli("Z", 0)])
    X = rng.normal(size=(9, rc.n_inputs))
    X[4, 1] = np.nan
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    with pytest.raises(ValueError, match="row 4"):
        ex._sim.expval(w, X)
    with pytest.raises(ValueError, match="row 4"):
        ex._sim.vjp(w, X, np.ones((9, 1)))


# --- the kept forward ---

def _row_paths(ex, w, X, cot, need_dx=False):
    _core._set_sv_shared_suffix(False)
    try:
        return ex.expval(w, X), ex.vjp(w, X, cot, need_dx=need_dx)
    finally:
        _core._set_sv_shared_suffix(True, True)


CASES = [(1, "RX"), (2, "H"), (3, "random"), (4, "RX"), (5, "RZ"), (6, "Rot"), (7, "RY"), (7, "random")]


@pytest.mark.parametrize("n, prefix", CASES)
@pytest.mark.parametrize("precision, tol", [("complex128", 1e-12), ("complex64", 1e-5)])
def test_the_kept_forward_matches_the_row_paths_and_the_dense_reference(forced, n, prefix, precision, tol):
    rc, rng = _circuit(n, prefix, ref.seed_of("saved-forward", n, prefix))
    c = rc.circuit()
    # Diagonal observables (Z words: the one-pass values and lambdas) and, at odd widths, a general sum.
    obs, terms = [], []
    for q in range(min(n, 3)):
        obs.append(_core_z(q))
        terms.append([(1.0, {q: "Z"})])
    if n % 2:
        o, t = random_pauli_sum(n, rng, n_terms=3)
        obs.append(o)
        terms.append(t)
    ex = _executor(c, obs, precision)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, rc.n_inputs))
    cot = rng.normal(size=(67, len(obs)))
    for rows in ([1, 2, 7, 9, 33, 67] if n <= 4 else [3, 67]):
        vals, saved = ex.forward(w, X[:rows])
        # The kept states serve VJPs without per-row prefix gradients (a random prefix may read weights).
        assert saved.has_state or prefix == "random"
        v, dw, dx = ex.vjp(w, X[:rows], cot[:rows], need_dx=False, saved=saved)
        assert dx is None
        rv, (_, rdw, _) = _row_paths(ex, w, X[:rows], cot[:rows])
        scale = max(1.0, np.abs(rdw).max())
        np.testing.assert_allclose(vals, rv, atol=tol, rtol=0)
        np.testing.assert_array_equal(v, vals)
        np.testing.assert_allclose(dw, rdw, atol=tol * scale, rtol=0)
    dense = _dense_values(rc, terms, w, X[:4])
    np.testing.assert_allclose(ex.forward(w, X[:4])[0], dense, atol=tol, rtol=0)


def _core_z(q):
    return pq.Observable.pauli("Z", q)


def test_the_kept_vjp_against_central_finite_differences(forced):
    rc, rng = _circuit(3, "RY", ref.seed_of("saved-forward-fd"))
    c = rc.circuit()
    obs, terms = zip(*[random_pauli_sum(3, rng, n_terms=3) for _ in range(2)])
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(11, rc.n_inputs))
    cot = rng.normal(size=(11, 2))
    ex = _executor(c, list(obs))
    vals, saved = ex.forward(w, X)
    assert saved.has_state
    _, dw, _ = ex.vjp(w, X, cot, need_dx=False, saved=saved)

    def f(wv):
        return float(np.sum(cot * _dense_values(rc, terms, wv, X)))

    h = 1e-6
    for k in range(rc.n_weights):
        e = np.zeros_like(w)
        e[k] = h
        assert abs(dw[k] - (f(w + e) - f(w - e)) / (2 * h)) < 1e-8


def test_a_stale_handle_recomputes(forced):
    rc, rng = _circuit(4, "RX", ref.seed_of("saved-forward-stale"))
    c = rc.circuit()
    ex = _executor(c, [_core_z(0), _core_z(3)])
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(20, rc.n_inputs))
    cot = rng.normal(size=(20, 2))
    _, saved = ex.forward(w, X)
    assert saved.has_state and saved.rows == 20
    # Weights changed in place after the forward: the VJP is the one of the new weights.
    w[3] += 0.5
    fresh = ex.vjp(w, X, cot, need_dx=False)
    got = ex.vjp(w, X, cot, need_dx=False, saved=saved)
    for a, b in zip(got[:2], fresh[:2]):
        np.testing.assert_array_equal(a, b)
    w[3] -= 0.5
    kept = ex.vjp(w, X, cot, need_dx=False, saved=saved)
    assert np.abs(kept[1] - got[1]).max() > 1e-3  # the change mattered
    # Inputs changed (in place, or other rows), and a different row count: recomputed too.
    X[5, 1] += 0.25
    for a, b in zip(ex.vjp(w, X, cot, need_dx=False, saved=saved)[:2], ex.vjp(w, X, cot, need_dx=False)[:2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ex.vjp(w, X[:7], cot[:7], need_dx=False, saved=saved)[:2],
                    ex.vjp(w, X[:7], cot[:7], need_dx=False)[:2]):
        np.testing.assert_array_equal(a, b)
    # A handle of another engine, and input gradients asked for: the whole VJP.
    other = _executor(c, [_core_z(0), _core_z(3)])
    X[5, 1] -= 0.25
    v1, dw1, dx1 = other.vjp(w, X, cot, need_dx=True, saved=saved)
    v2, dw2, dx2 = ex.vjp(w, X, cot, need_dx=True, saved=saved)
    v3, dw3, dx3 = ex.vjp(w, X, cot, need_dx=True)
    assert dx2 is not None
    for a, b in zip((v1, dw1, dx1, v2, dw2, dx2), (v3, dw3, dx3) * 2):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError):
        ex._sim.vjp_saved("not a handle", w, X, cot)
    with pytest.raises(ValueError, match="cotangent"):
        ex.vjp(w, X, cot[:, :1], need_dx=False, saved=saved)


def test_without_the_path_the_handle_keeps_no_state_and_the_vjp_is_whole():
    rc, rng = _circuit(3, "RZ", ref.seed_of("saved-forward-off"))
    ex = _executor(rc.circuit(), [_core_z(1)])
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(9, rc.n_inputs))
    cot = rng.normal(size=(9, 1))
    _core._set_sv_shared_suffix(False)
    try:
        vals, saved = ex.forward(w, X)
        assert not saved.has_state
        np.testing.assert_array_equal(vals, ex.expval(w, X))
        for a, b in zip(ex.vjp(w, X, cot, need_dx=False, saved=saved)[:2], ex.vjp(w, X, cot, need_dx=False)[:2]):
            np.testing.assert_array_equal(a, b)
    finally:
        _core._set_sv_shared_suffix(True)


def test_one_handle_serves_vjps_on_several_threads(forced):
    rc, rng = _circuit(5, "RX", ref.seed_of("saved-forward-threads"))
    ex = _executor(rc.circuit(), [_core_z(0), _core_z(4)])
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(300, rc.n_inputs))
    cots = [rng.normal(size=(300, 2)) for _ in range(4)]
    _, saved = ex.forward(w, X)
    want = [ex.vjp(w, X, cot, need_dx=False)[1] for cot in cots]
    got = [None] * 4

    def run(i):
        for _ in range(5):
            got[i] = ex.vjp(w, X, cots[i], need_dx=False, saved=saved)[1]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def test_compiled_qnode_forward_and_flops(forced):
    cq = _seed_qnn().compile({"weights": (2, 4, 3)}, 4)
    rng = np.random.default_rng(ref.seed_of("saved-forward-cq"))
    flat = cq.pack([rng.uniform(-np.pi, np.pi, (2, 4, 3))])
    X = rng.normal(size=(150, 4))
    cot = rng.normal(size=(150, 4))
    vals, saved = cq.forward(flat, X)
    assert saved.has_state
    v, dw, dx = cq.vjp(flat, X, cot, need_dx=False, saved=saved)
    rv, (_, rdw, _) = _row_paths(cq.executor(), flat, X, cot)
    np.testing.assert_allclose(vals, rv, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dw, rdw, atol=1e-12, rtol=0)
    # The flop model of a kept pair: the VJP's backward part alone (values as the forward computes them).
    ex = cq.executor()
    whole, kept = ex.flops(150, need_dx=False), ex.flops(150, need_dx=False, saved=True)
    assert kept["values"] == whole["values"]
    assert 0 < kept["vjp"] == whole["vjp"] - whole["values"]
    assert ex.flops(150, need_dx=True, saved=True) == ex.flops(150, need_dx=True)


def test_the_demo_trains_to_the_same_losses_as_the_row_paths():
    from pyqml.__main__ import build_iris_model, iris_split
    from pyqml.qml.optimizers import AdamOptimizer

    Xtr, _, ytr, _ = iris_split(seed=0)

    def losses(mode):
        _core._set_sv_shared_suffix(*mode)
        try:
            model = build_iris_model(2, 0)
            return model.fit(Xtr, ytr, epochs=8, optimizer=AdamOptimizer(0.1), progress=False)["loss"]
        finally:
            _core._set_sv_shared_suffix(True)

    shared, rows = losses((True, True)), losses((False,))
    np.testing.assert_allclose(shared, rows, atol=1e-12, rtol=0)
    assert shared[-1] < shared[0]


def test_a_forward_for_input_gradients_keeps_no_suffix_states(forced):
    # The shared suffix's kept states give weight gradients only: a forward told that its VJP asks for the
    # input gradients keeps none, and that VJP runs whole (the same bits as without a handle).
    cq = _seed_qnn().compile({"weights": (2, 4, 3)}, 4)
    rng = np.random.default_rng(ref.seed_of("saved-forward-dx"))
    flat = cq.pack([rng.uniform(-np.pi, np.pi, (2, 4, 3))])
    X = rng.normal(size=(150, 4))
    cot = rng.normal(size=(150, 4))
    vals, saved = cq.forward(flat, X, need_dx=True)
    assert not saved.has_state
    np.testing.assert_array_equal(vals, cq.expval(flat, X))
    got, want = cq.vjp(flat, X, cot, need_dx=True, saved=saved), cq.vjp(flat, X, cot, need_dx=True)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert cq.forward(flat, X)[1].has_state


def test_a_quantum_layer_after_a_dense_one_keeps_no_suffix_states(forced):
    # In a model's training step a quantum layer after another layer must give its input gradient, so its
    # forward keeps no shared-suffix states; the first layer's (no input gradient) does. Both train to the
    # losses of the row paths.
    from pyqml.__main__ import _iris_qnode, iris_split
    from pyqml.qml.models import Dense, HybridModel, QuantumLayer
    from pyqml.qml.optimizers import AdamOptimizer

    Xtr, _, ytr, _ = iris_split(seed=0)

    def run(mode):
        _core._set_sv_shared_suffix(*mode)
        try:
            q = QuantumLayer(_iris_qnode(2, None), {"weights": (2, 4, 3)}, rng=0)
            model = HybridModel([Dense(4, 4, rng=1), q, Dense(4, 3, rng=0)])
            loss = model.fit(Xtr, ytr, epochs=4, optimizer=AdamOptimizer(0.1), progress=False)["loss"]
            return loss, q._saved
        finally:
            _core._set_sv_shared_suffix(True)

    (shared, saved), (rows, _) = run((True, True)), run((False,))
    assert saved is not None and not saved.has_state
    np.testing.assert_allclose(shared, rows, atol=1e-12, rtol=0)
    assert shared[-1] < shared[0]
