"""The lane path's sweep over kept forward states (cpp/src/statevector/lanes.cpp, LanePlan::n_kept): when every
op after the product-state prefix is its own item of the forward schedule (no two single-wire gates on a wire
between multi-wire gates), the forward pass keeps the state before every trainable item and the adjoint sweep
runs backwards over the items, overlapping each lambda with the kept state instead of un-applying the ops from
the final state. Checked on layered random circuits (a single-wire gate of the table per wire, then a ring of
multi-wire gates of the table, constants, weights and inputs mixed; with and without a trainable prefix, with a
trainable single-wire gate that the schedule moves past multi-wire gates on other wires) against the same rows
one at a time (the per-row kernels), the dense reference and central finite differences, for every row count
1..67, shared and per-row weights, VJPs with and without input gradients, both precisions and 1/2/3 threads;
and the flop model's count of the kept path by hand. (Jacobians only: a VJP un-applies.)"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, TABLE, RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core
from pyqml.frontend.params import CONST, WEIGHT

SINGLE = [g for g in NAMES if TABLE[g]["n_wires"] == 1] + ["QubitUnitary"]
MULTI = [g for g in NAMES if TABLE[g]["n_wires"] in (2, 3)] + ["MultiRZ", "QubitUnitary"]


def _pick(names, rng):
    """A gate of names, one with parameters seven times in ten."""
    with_params = [g for g in names if TABLE[g]["n_params"] > 0]
    pool = with_params if rng.random() < 0.7 else names
    return pool[int(rng.integers(len(pool)))]


def _params(name, rng, nw, n_inputs, trainable):
    out = []
    for _ in range(TABLE[name]["n_params"]):
        r = rng.random()
        if trainable and r < 0.5:
            out.append((1, nw, 1.0, 0.0))
            nw += 1
        elif n_inputs and trainable and r < 0.8:
            out.append((2, int(rng.integers(n_inputs)), float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1))))
        else:
            out.append((0, 0, 1.0, float(rng.uniform(-np.pi, np.pi))))
    return out, nw


def _layered(n, seed, layers=None, n_inputs=3, trainable_prefix=True, moved_first=False):
    """A layer of single-wire gates (one per wire, some wires skipped), then a ring of multi-wire gates
    touching every wire, `layers` times (3, or 2 on 5 wires: the kept states stay within the lanes' budget of
    1024 amplitudes), and a last single-wire layer. Without trainable_prefix the first
    layer and ring are constants; moved_first: the first trainable gate is a single-wire gate on the last
    wire, which the schedule applies only when the ring reaches that wire."""
    rng = np.random.default_rng(seed)
    layers = layers or (2 if n >= 5 else 3)
    spec, nw = [], 0
    for layer in range(layers + 1):
        trainable = trainable_prefix or layer > 0
        for w in range(n):
            if rng.random() < 0.15 and not (moved_first and layer == 1 and w == n - 1):
                continue
            name = _pick(SINGLE, rng)
            if moved_first and layer == 1:
                name = "RY" if w == n - 1 else "Hadamard"
            params, nw = _params(name, rng, nw, n_inputs, trainable)
            if moved_first and layer == 1 and w == n - 1:
                params, nw = [(1, nw, 1.0, 0.0)], nw + 1
            U = ref.random_unitary(2, rng) if name == "QubitUnitary" else None
            spec.append((name, [w], params, U))
        if layer == layers:
            break
        for i in range(n):
            name = _pick(MULTI, rng)
            k = TABLE[name]["n_wires"]
            k = k if k > 0 else int(rng.integers(2, min(n, 3) + 1))
            wires = [(i + j) % n for j in range(k)]
            if rng.random() < 0.5:
                wires = wires[::-1]
            params, nw = _params(name, rng, nw, n_inputs, trainable)
            if moved_first and layer == 1 and i == 0:
                # A trainable gate off the last wire: the schedule applies it before the RY above.
                name, wires, params, nw = "CRX", [0, 1], [(1, nw, 1.0, 0.0)], nw + 1
            U = ref.random_unitary(2**k, rng) if name == "QubitUnitary" else None
            spec.append((name, wires, params, U))
        spec += [("CNOT", [i, (i + 2) % n], [], None) for i in range(n) if (i + 2) % n != i]
    rc = RandomCircuit(n, 0, rng, n_inputs=n_inputs)
    rc.spec = spec
    rc.n_weights = nw
    return rc, rc.circuit(), rng


def _observables(kind, n, rng):
    if kind == "diagonal":
        pairs = [(pq.Observable.pauli("Z", i), [(1.0, {i: "Z"})]) for i in range(n)]
        pairs.append((pq.Observable.pauli("Z", 0) @ pq.Observable.pauli("Z", n - 1), [(1.0, {0: "Z", n - 1: "Z"})]))
    else:
        pairs = [random_pauli_sum(n, rng, n_terms=3) for _ in range(3)]
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


CASES = [(3, True, False), (4, True, True), (5, False, False), (4, False, True)]


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
@pytest.mark.parametrize("n,trainable_prefix,moved_first", CASES)
def test_every_row_count_matches_rows_one_at_a_time(n, trainable_prefix, moved_first, kind):
    rc, c, rng = _layered(n, ref.seed_of("lane-kept-rows", n, trainable_prefix, moved_first, kind),
                          trainable_prefix=trainable_prefix, moved_first=moved_first)
    obs, _ = _observables(kind, n, rng)
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(67, 3))
    v1, dw1, dx1 = _rows_one_at_a_time(ex, w, X)
    for rows in list(range(1, 20)) + [23, 31, 32, 33, 47, 64, 65, 67]:
        v, dw, dx = ex.jacobian(w, X[:rows])
        np.testing.assert_allclose(v, v1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw, dw1[:rows], atol=1e-12, rtol=0)
        np.testing.assert_allclose(dx, dx1[:rows], atol=1e-12, rtol=0)


@pytest.mark.parametrize("n,trainable_prefix,moved_first", CASES)
def test_against_the_dense_reference_and_finite_differences(n, trainable_prefix, moved_first):
    rc, c, rng = _layered(n, ref.seed_of("lane-kept-fd", n, trainable_prefix, moved_first),
                          trainable_prefix=trainable_prefix, moved_first=moved_first)
    obs, terms = _observables("pauli", n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(11, 3))
    v, dw, dx = pq.jacobian(c, obs, weights=w, inputs=X, method="statevector")

    def dense(wv, Xv):
        return np.array([[ref.expval_var(t, rc.state(wv, x), rc.n)[0] for t in terms] for x in Xv])

    np.testing.assert_allclose(v, dense(w, X), atol=1e-12, rtol=0)
    h = 1e-6
    for k in range(rc.n_weights):
        e = np.zeros_like(w)
        e[k] = h
        np.testing.assert_allclose(dw[:, :, k], (dense(w + e, X) - dense(w - e, X)) / (2 * h), atol=1e-8)
    for j in range(X.shape[1]):
        e = np.zeros_like(X)
        e[:, j] = h
        np.testing.assert_allclose(dx[:, :, j], (dense(w, X + e) - dense(w, X - e)) / (2 * h), atol=1e-8)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
def test_per_row_weights_and_vjp_with_and_without_input_gradients(kind):
    n = 4
    rc, c, rng = _layered(n, ref.seed_of("lane-kept-vjp", kind))
    obs, _ = _observables(kind, n, rng)
    ex = c.executor(obs, "statevector", "complex128", "jacobian")
    X = rng.normal(size=(21, 3))
    W = rng.uniform(-np.pi, np.pi, (21, rc.n_weights))
    v1, dw1, dx1 = _rows_one_at_a_time(ex, W, X)
    v, dw, dx = ex.jacobian(W, X)
    for a, b in ((v, v1), (dw, dw1), (dx, dx1)):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    cot = rng.normal(size=v.shape)
    for weights, (jv, jw, jx) in ((W, (v, dw, dx)), (W[0], ex.jacobian(W[0], X))):
        vv, gw, gx = ex.vjp(weights, X, cot)
        np.testing.assert_allclose(vv, jv, atol=1e-12, rtol=0)
        np.testing.assert_allclose(gx, np.einsum("ro,roj->rj", cot, jx), atol=1e-12, rtol=0)
        ref_w = np.einsum("ro,rok->rk", cot, jw)
        np.testing.assert_allclose(gw, ref_w if weights.ndim == 2 else ref_w.sum(0), atol=1e-11, rtol=0)
        _, gw2, _ = ex.vjp(weights, X, cot, need_dx=False)
        np.testing.assert_allclose(gw2, gw, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["diagonal", "pauli"])
def test_complex64(kind):
    n = 5
    rc, c, rng = _layered(n, ref.seed_of("lane-kept-c64", kind))
    obs, _ = _observables(kind, n, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(19, 3))
    v, dw, dx = c.executor(obs, "statevector", "complex128", "jacobian").jacobian(w, X)
    ex64 = c.executor(obs, "statevector", "complex64", "jacobian")
    v64, dw64, dx64 = ex64.jacobian(w, X)
    for a, b in ((v64, v), (dw64, dw), (dx64, dx)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    v1, dw1, dx1 = _rows_one_at_a_time(ex64, w, X)  # the per-row complex64 kernels
    for a, b in ((v64, v1), (dw64, dw1), (dx64, dx1)):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=0)


def test_results_do_not_depend_on_the_thread_count():
    rc, c, rng = _layered(4, ref.seed_of("lane-kept-threads"))
    obs, _ = _observables("pauli", 4, rng)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(45, 3))
    before = pq.get_num_threads()
    try:
        out = []
        for t in (1, 2, 3):
            pq.set_num_threads(t)
            out.append(pq.jacobian(c, obs, weights=w, inputs=X, method="statevector"))
    finally:
        pq.set_num_threads(before)
    for other in out[1:]:
        for x, y in zip(out[0], other):
            assert np.array_equal(x, y)


def test_flops_of_the_kept_sweep_by_hand():
    # 2 wires: RY0(w) (the prefix), CNOT, RX1(w), CRX(w), RZ0(w): every op after the prefix its own item
    # ([CNOT] [RX1] [CRX] [RZ0]), so the sweep overlaps the kept states (no phi pass). Size 4.
    # Forward: the product state 6 * (2^3 - 2) = 36 (RY's vector its first column: 0); CNOT 0, RX1 2 groups *
    #   28 = 56, CRX 1 group * 28, RZ0 6 * 4 = 24.                                       forward = 144
    # Values (<Z0>, diagonal): |psi|^2 3 * 4, the value 2 * 4.                           values = 164
    # Sweep (1 lambda; the prefix follows, so every lambda un-apply runs): RZ0 overlap 8 * 4 = 32,
    #   derivative 4 * 2 + 2 = 10, un-apply 24; CRX 1 * 4 * 8 = 32, 18, 28; RX1 2 * 4 * 8 = 64, 18, 56; CNOT 0:
    #   282. The prefix: the lambda's contraction on 2 wires 56, RY's overlap with its tangent 10.
    # Jacobian: 164 + lambda 2 * 4 + 282 + 66 = 520. The VJP runs the same sweep on its one lambda, the
    # cotangent-weighted observable: 164 + lambda (2 + 2) * 4 + 282 + 66 = 528.
    ops = [
        ("RY", [0], [(WEIGHT, 0, 1.0, 0.0)], None),
        ("CNOT", [0, 1], [], None),
        ("RX", [1], [(WEIGHT, 1, 1.0, 0.0)], None),
        ("CRX", [0, 1], [(WEIGHT, 2, 1.0, 0.0)], None),
        ("RZ", [0], [(WEIGHT, 3, 1.0, 0.0)], None),
    ]
    f = _core.StateVector(_core.Circuit(2, ops, 4, 0), [[(1.0, [0], "Z")]], "complex128").flops()
    assert f == {"forward": 144, "values": 164, "jacobian": 520, "vjp": 528}
    # A fused run (RX1 then a constant RZ1 before the CRX) keeps no states: the phi pass is counted again.
    fused = ops[:3] + [("RZ", [1], [(CONST, 0, 1.0, 0.4)], None)] + ops[3:]
    g = _core.StateVector(_core.Circuit(2, fused, 4, 0), [[(1.0, [0], "Z")]], "complex128").flops()
    # forward: the run's 2 products (56 each) and one dense application (56) instead of RX1's 56
    assert g["forward"] == 144 + 112
    # the sweep (circuit order): phi RZ0 24 + CRX 28 + RZ1 24 + RX1 56; per lambda RZ0 66, CRX 78, RZ1's
    # un-apply 24, RX1 138
    assert g["jacobian"] == g["values"] + 8 + (24 + 28 + 24 + 56) + (66 + 78 + 24 + 138) + 66
