"""The warm qnode call's fast paths give the same results and the same errors as the general ones."""
import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml.frontend.measurements import real_array


def test_real_array_float_fast_path():
    big = np.array([1e308, 1e308])  # finite, however large
    assert real_array(big, "w") is big
    with pytest.raises(ValueError, match=r"w\[1\]"):
        real_array(np.array([1.0, np.nan]), "w")
    with pytest.raises(ValueError, match=r"w\[0, 1\]"):
        real_array(np.array([[0.0, -np.inf]]), "w")


def _qnn():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(2))
        pq.StronglyEntanglingLayers(weights, wires=range(2))
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1))]

    return f


def test_positional_and_keyword_calls_agree():
    f = _qnn()
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(5, 2)), rng.uniform(0, 6, (1, 2, 3))
    a = f(x, w)
    b = f(inputs=x, weights=w)
    c = f(x[0], w)
    np.testing.assert_allclose(a, b, atol=0, rtol=0)
    np.testing.assert_allclose(a[0], c, atol=1e-14)
    # after the cached call, other shapes still compile or are refused by name
    w2 = rng.uniform(0, 6, (2, 2, 3))
    assert f(x, w2).shape == (5, 2)
    with pytest.raises(ValueError, match="weights"):
        f(x, np.full((1, 2, 3), np.nan))
    with pytest.raises(TypeError):
        f(x, w, w)


# --- the warm call's fast path (QNode._call_fast): same numbers and errors as the general path -----------
def _general(f, *args):
    """The general path of the same call (keyword arguments never take the fast path)."""
    return f(**dict(zip(f.arg_names, args)))


def _small():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RX(inputs[0], wires=0)
        pq.RY(inputs[1], wires=1)
        pq.CNOT(wires=[0, 1])
        pq.RZ(weights[0], wires=0)
        pq.RY(weights[1], wires=1)
        pq.RX(weights[2], wires=0)
        return [pq.expval(pq.Z(0)), pq.expval(pq.X(0) @ pq.Z(1))]

    return f


def _small_reference(x, w):
    state = ref.simulate(2, [(ref.rx(x[0]), [0]), (ref.ry(x[1]), [1]), (ref.gate_matrix("CNOT"), [0, 1]),
                             (ref.rz(w[0]), [0]), (ref.ry(w[1]), [1]), (ref.rx(w[2]), [0])])
    return [ref.expval_var([(1.0, {0: "Z"})], state, 2)[0], ref.expval_var([(1.0, {0: "X", 1: "Z"})], state, 2)[0]]


def test_fast_call_matches_general_path_and_dense_reference():
    f = _small()
    rng = np.random.default_rng(ref.seed_of("fast-call"))
    w = rng.uniform(-3, 3, 3)
    X = rng.normal(size=(7, 2))
    first = f(X, w)  # general path; learns the fast call
    assert f._fast, "a positional float64 call of expectation values has a fast call"
    for rows in (7, 1, 3, 0):  # any row count after one compile
        got = f(X[:rows], w)
        np.testing.assert_array_equal(got, _general(f, X[:rows], w))
        assert got.shape == (rows, 2)
    np.testing.assert_array_equal(f(X, w), first)
    for i in range(X.shape[0]):
        np.testing.assert_allclose(f(X[i], w), _small_reference(X[i], w), atol=1e-12)
        np.testing.assert_array_equal(f(X[i], w), _general(f, X[i], w))


def test_fast_call_reads_the_arrays_of_each_call():
    f = _small()
    rng = np.random.default_rng(ref.seed_of("fast-call-mutate"))
    w, x = rng.uniform(-3, 3, 3), rng.normal(size=2)
    f(x, w)
    f(x, w)
    w[1] += 0.5  # in place: the next call sees it
    x[0] -= 0.25
    np.testing.assert_allclose(f(x, w), _small_reference(x, w), atol=1e-12)


def test_fast_call_non_contiguous_and_other_layouts():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-call-layout"))
    X = rng.normal(size=(6, 5))
    W = np.asfortranarray(rng.uniform(0, 6, (1, 2, 3)))
    f(np.ascontiguousarray(X[:, :2]), np.ascontiguousarray(W))  # learn the key
    cols = X[:, 1:3]  # strided rows
    np.testing.assert_array_equal(f(cols, W), _general(f, np.ascontiguousarray(cols), np.ascontiguousarray(W)))
    row = X[2, ::2][:2]  # a strided single row
    np.testing.assert_array_equal(f(row, W), _general(f, np.ascontiguousarray(row), W))


def test_fast_call_refuses_non_finite_values_by_name():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-call-nan"))
    x, w = rng.normal(size=(4, 2)), rng.uniform(0, 6, (1, 2, 3))
    f(x, w)
    f(x, w)
    bad_w = w.copy()
    bad_w[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"weights\[0, 1, 2\] is nan"):
        f(x, bad_w)
    bad_x = x.copy()
    bad_x[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"inputs\[3, 0\] is inf"):
        f(bad_x, w)
    with pytest.raises(ValueError, match=r"inputs\[1\] is -inf"):
        f(np.array([0.5, -np.inf]), w)
    np.testing.assert_array_equal(f(x, w), _general(f, x, w))  # still served afterwards


def test_fast_call_other_shapes_compile_or_are_refused():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-call-shapes"))
    x, w = rng.normal(size=(3, 2)), rng.uniform(0, 6, (1, 2, 3))
    f(x, w)
    w2 = rng.uniform(0, 6, (3, 2, 3))  # more layers: a new trace, then its own fast call
    np.testing.assert_array_equal(f(x, w2), _general(f, x, w2))
    np.testing.assert_array_equal(f(x, w2), _general(f, x, w2))
    with pytest.raises(ValueError, match="shape"):
        f(x, rng.uniform(0, 6, (1, 2, 2)))  # StronglyEntanglingLayers needs 3 angles per wire
    with pytest.raises(ValueError, match="rows of data|shape"):
        f(rng.normal(size=(2, 2, 2)), w)
    np.testing.assert_array_equal(f(x, w), _general(f, x, w))


def test_fast_call_one_measurement_no_inputs_several_weights():
    @pq.qnode(wires=2)
    def g(a, b):
        pq.RY(a[0], wires=0)
        pq.RX(b, wires=1)
        pq.CNOT(wires=[1, 0])
        return pq.expval(pq.Z(0))

    a, b = np.array([0.3, 0.1]), np.array(0.7)
    v = g(a, b)
    assert g._fast
    np.testing.assert_array_equal(g(a, b), v)
    state = ref.simulate(2, [(ref.ry(0.3), [0]), (ref.rx(0.7), [1]), (ref.gate_matrix("CNOT"), [1, 0])])
    np.testing.assert_allclose(g(a, b), ref.expval_var([(1.0, {0: "Z"})], state, 2)[0], atol=1e-12)
    assert np.shape(g(a, b)) == ()


def test_fast_call_with_derived_inputs():
    @pq.qnode(wires=3)
    def f(inputs, weights):
        pq.IQPEmbedding(inputs, wires=range(3), n_repeats=2)
        pq.StronglyEntanglingLayers(weights, wires=range(3))
        return [pq.expval(pq.Z(i)) for i in range(3)]

    rng = np.random.default_rng(ref.seed_of("fast-call-derived"))
    X, W = rng.normal(size=(5, 3)), rng.uniform(0, 6, (1, 3, 3))
    f(X, W)
    np.testing.assert_array_equal(f(X, W), _general(f, X, W))
    np.testing.assert_array_equal(f(X[1], W), _general(f, X[1], W))


def test_fast_call_leaves_shots_and_differentiation_to_the_general_path():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-call-shots"))
    x, w = rng.normal(size=(2, 2)), rng.uniform(0, 6, (1, 2, 3))
    exact = f(x, w)
    f(x, w)
    sampled = f(x, w, shots=50)  # a call-time shots=: drawn, not the exact values
    assert sampled.shape == exact.shape and not np.array_equal(sampled, exact)
    assert np.all(np.abs(sampled) <= 1.0)
    # differentiation through the qnode (autograd arrays) after fast calls
    import pyqml.numpy as pnp

    def cost(weights):
        return pnp.sum(f(x, weights))

    g = pq.grad(cost)(pnp.array(w, requires_grad=True))
    _, dw, _ = f.jacobian(x, w)
    np.testing.assert_allclose(g, dw.sum(axis=(0, 1)), atol=1e-12)


def test_first_call_of_a_small_qnode_imports_no_other_method():
    code = (
        "import sys, numpy as np, pyqml as pq\n"
        "@pq.qnode(wires=4)\n"
        "def f(inputs, weights):\n"
        "    pq.AngleEmbedding(inputs, wires=range(4))\n"
        "    pq.StronglyEntanglingLayers(weights, wires=range(4))\n"
        "    return [pq.expval(pq.Z(i)) for i in range(4)]\n"
        "X = np.linspace(-1, 1, 12).reshape(3, 4); W = np.linspace(0, 6, 24).reshape(2, 4, 3)\n"
        "v = f(X, W)\n"
        "lazy = [m for m in ('pyqml.mps', 'pyqml.densitymatrix', 'pyqml.trajectories', 'numpy.random')\n"
        "        if m in sys.modules]\n"
        "methods = pq.execution.available_methods()\n"
        "w = pq.qnode(wires=4, method='mps')(f.func)(X, W)\n"
        "print(lazy, methods, float(np.abs(v - w).max()), f.circuit(X, W).executor([pq.Z(0)]).method)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    lazy, rest = out.split("]", 1)
    assert lazy == "["  # none imported by the first call
    for name in ("'densitymatrix'", "'mps'", "'statevector'", "'tensornet'", "'trajectories'", "'auto'"):
        assert name in rest  # every method once asked for
    diff, method = rest.split("]")[1].split()
    assert float(diff) < 1e-10 and method == "statevector"


def test_qnode_generator_built_on_first_use_keeps_seeded_draws():
    def circuit(weights):
        pq.RY(weights[0], wires=0)
        return pq.expval(pq.Z(0))

    w = np.array([1.1])
    a = pq.qnode(wires=1, shots=200, seed=11)(circuit)
    b = pq.qnode(wires=1, shots=200, seed=11)(circuit)
    assert a._rng is None  # nothing drawn yet
    draws = [float(a(w)) for _ in range(3)]
    assert [float(b(w)) for _ in range(3)] == draws  # one seed, the same sequence of draws
    assert len(set(draws)) > 1  # successive calls draw fresh shots
    assert abs(np.mean(draws) - np.cos(1.1)) < 0.25
    gen = np.random.default_rng(3)
    c = pq.qnode(wires=1, shots=200, seed=gen)(circuit)
    assert c.rng is gen  # a Generator is used as it is
    with pytest.raises(ValueError, match="seed must be a non-negative integer or None"):
        pq.qnode(wires=1, seed=-2)(circuit)
    with pytest.raises(ValueError, match="seed must be a non-negative integer or None"):
        pq.qnode(wires=1, seed=1.5)(circuit)


def test_other_measurements_take_the_general_path_after_one_look():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RX(inputs[0], wires=0)
        pq.RY(weights[0], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.probs(wires=[0, 1])

    x, w = np.array([0.4, 0.0]), np.array([1.3])
    p1 = f(x, w)
    assert list(f._fast.values()) == [None]  # looked at once: no fast call for probabilities
    p2 = f(x, w)
    state = ref.simulate(2, [(ref.rx(0.4), [0]), (ref.ry(1.3), [1]), (ref.gate_matrix("CNOT"), [0, 1])])
    np.testing.assert_allclose(p2, ref.probs(state, [0, 1], 2), atol=1e-12)
    np.testing.assert_array_equal(p1, p2)


# --- the warm jacobian's fast path (QNode._fast_jac): the same bits and errors as the general path ---------
def _general_jacobian(f, *args):
    """The general path of the same jacobian (keyword arguments never take the fast path)."""
    return f.jacobian(**dict(zip(f.arg_names, args)))


def _assert_same_jacobian(a, b):
    assert len(a) == len(b) == 3
    for p, q in zip(a, b):
        if isinstance(p, tuple):
            assert isinstance(q, tuple) and len(p) == len(q)
            for u, v in zip(p, q):
                assert u.shape == v.shape
                np.testing.assert_array_equal(u, v)
        elif p is None:
            assert q is None
        else:
            p, q = np.asarray(p), np.asarray(q)
            assert p.shape == q.shape and p.dtype == q.dtype == np.float64
            np.testing.assert_array_equal(p, q)


def _shift_jacobian(f, x, w):
    """The same qnode by the parameter-shift rule: an independent reference for the adjoint Jacobian."""
    return pq.qnode(wires=f.n_wires, diff_method="parameter-shift")(f.func).jacobian(x, w)


def test_fast_jacobian_matches_general_path_bit_for_bit():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-jacobian"))
    X, w = rng.normal(size=(7, 2)), rng.uniform(0, 6, (2, 2, 3))
    first = f.jacobian(X, w)  # general path; learns the fast call
    assert any(v is not None for v in f._fast_jac.values()), "a positional float64 jacobian has a fast call"
    _assert_same_jacobian(f.jacobian(X, w), first)
    for rows in (7, 1, 3):  # any row count after one compile
        _assert_same_jacobian(f.jacobian(X[:rows], w), _general_jacobian(f, X[:rows], w))
    vals, dw, dx = f.jacobian(X, w)
    assert vals.shape == (7, 2) and dw.shape == (7, 2, 2, 2, 3) and dx.shape == (7, 2, 2)
    ps = _shift_jacobian(f, X, w)
    for a, b in zip((vals, dw, dx), ps):
        np.testing.assert_allclose(a, b, atol=1e-12)
    for i in (0, 4):  # one unbatched row: its own key, learnt on its first call
        _assert_same_jacobian(f.jacobian(X[i], w), _general_jacobian(f, X[i], w))
        _assert_same_jacobian(f.jacobian(X[i], w), _general_jacobian(f, X[i], w))
        v1, d1, x1 = f.jacobian(X[i], w)
        assert v1.shape == (2,) and d1.shape == (2, 2, 2, 3) and x1.shape == (2, 2)
        # one row runs the per-row kernels, a batch the lanes: equal to rounding
        np.testing.assert_allclose(v1, vals[i], atol=1e-14)
        np.testing.assert_allclose(d1, dw[i], atol=1e-14)


def test_fast_jacobian_reads_the_arrays_of_each_call():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-jacobian-mutate"))
    X, w = rng.normal(size=(4, 2)), rng.uniform(0, 6, (1, 2, 3))
    f.jacobian(X, w)
    before = f.jacobian(X, w)
    w[0, 1, 2] += 0.5  # in place: the next call sees it
    X[2, 0] -= 0.25
    after = f.jacobian(X, w)
    assert not np.array_equal(after[1], before[1])
    _assert_same_jacobian(after, _general_jacobian(f, X.copy(), w.copy()))
    for a, b in zip(after, _shift_jacobian(f, X, w)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # results are the call's own arrays: a later call does not overwrite them
    kept = [a.copy() for a in after]
    f.jacobian(X + 1.0, w)
    for a, b in zip(after, kept):
        np.testing.assert_array_equal(a, b)


def test_fast_jacobian_other_shapes_dtypes_and_layouts():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-jacobian-dtypes"))
    X, w = rng.normal(size=(5, 2)), rng.uniform(0, 6, (1, 2, 3))
    f.jacobian(X, w)
    f.jacobian(X, w)
    w2 = rng.uniform(0, 6, (3, 2, 3))  # more layers: a new trace, then its own fast call
    _assert_same_jacobian(f.jacobian(X, w2), _general_jacobian(f, X, w2))
    _assert_same_jacobian(f.jacobian(X, w2), _general_jacobian(f, X, w2))
    assert f.jacobian(X, w2)[1].shape == (5, 2, 3, 2, 3)
    # float32 and integer arrays are converted to float64 (the general path): the values of the converted call
    X32, w32 = X.astype(np.float32), w.astype(np.float32)
    _assert_same_jacobian(f.jacobian(X32, w32), f.jacobian(X32.astype(float), w32.astype(float)))
    Xi, wi = np.array([[1, 0], [0, -2]]), np.array([[[1, 2, 3], [0, 1, 0]]])
    _assert_same_jacobian(f.jacobian(Xi, wi), f.jacobian(Xi.astype(float), wi.astype(float)))
    np.testing.assert_array_equal(f(Xi, wi), f(Xi.astype(float), wi.astype(float)))
    np.testing.assert_array_equal(f(X32, w32), f(X32.astype(float), w32.astype(float)))
    # strided and Fortran-ordered float64 arrays take the fast call with the same bits
    big = rng.normal(size=(5, 5))
    cols = big[:, 1:3]
    wf = np.asfortranarray(w)
    _assert_same_jacobian(f.jacobian(cols, wf), _general_jacobian(f, np.ascontiguousarray(cols), np.ascontiguousarray(w)))
    _assert_same_jacobian(f.jacobian(big[1, ::2][:2], w), _general_jacobian(f, np.ascontiguousarray(big[1, ::2][:2]), w))


def test_fast_jacobian_refuses_bad_input_by_name():
    f = _qnn()
    rng = np.random.default_rng(ref.seed_of("fast-jacobian-bad"))
    X, w = rng.normal(size=(4, 2)), rng.uniform(0, 6, (1, 2, 3))
    f.jacobian(X, w)
    f.jacobian(X, w)
    bad_w = w.copy()
    bad_w[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"weights\[0, 1, 2\] is nan"):
        f.jacobian(X, bad_w)
    bad_x = X.copy()
    bad_x[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"inputs\[3, 0\] is inf"):
        f.jacobian(bad_x, w)
    with pytest.raises(ValueError, match=r"inputs\[1\] is -inf"):
        f.jacobian(np.array([0.5, -np.inf]), w)
    with pytest.raises(ValueError, match="shape"):
        f.jacobian(X, rng.uniform(0, 6, (1, 2, 2)))  # StronglyEntanglingLayers needs 3 angles per wire
    with pytest.raises(ValueError, match="rows of data|shape"):
        f.jacobian(rng.normal(size=(2, 2, 2)), w)
    with pytest.raises(TypeError, match="real numbers"):
        f.jacobian(X.astype(complex), w)
    with pytest.raises(TypeError, match="real numbers"):
        f.jacobian(X, w.astype(str))
    with pytest.raises(TypeError):
        f.jacobian(X, w, w)
    _assert_same_jacobian(f.jacobian(X, w), _general_jacobian(f, X, w))  # still served afterwards


def test_fast_jacobian_one_measurement_no_inputs_several_weights():
    @pq.qnode(wires=2)
    def g(a, b):
        pq.RY(a[0], wires=0)
        pq.RX(a[1], wires=1)
        pq.RX(b, wires=1)
        pq.CNOT(wires=[1, 0])
        return pq.expval(pq.Z(0))

    a, b = np.array([0.3, 0.1]), np.array(0.7)
    first = g.jacobian(a, b)
    assert any(v is not None for v in g._fast_jac.values())
    got = g.jacobian(a, b)
    _assert_same_jacobian(got, first)
    _assert_same_jacobian(got, g.jacobian(a=a, b=b))
    vals, (da, db), dx = got
    assert np.shape(vals) == () and da.shape == (2,) and np.shape(db) == () and dx is None
    ps = pq.qnode(wires=2, diff_method="parameter-shift")(g.func).jacobian(a, b)
    np.testing.assert_allclose(vals, ps[0], atol=1e-12)
    np.testing.assert_allclose(da, ps[1][0], atol=1e-12)
    np.testing.assert_allclose(db, ps[1][1], atol=1e-12)


def test_fast_jacobian_one_measurement_batched():
    @pq.qnode(wires=2)
    def h(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(2))
        pq.StronglyEntanglingLayers(weights, wires=range(2))
        return pq.expval(pq.Z(0) @ pq.Z(1))

    rng = np.random.default_rng(ref.seed_of("fast-jacobian-one"))
    X, w = rng.normal(size=(3, 2)), rng.uniform(0, 6, (1, 2, 3))
    first = h.jacobian(X, w)
    _assert_same_jacobian(h.jacobian(X, w), first)
    vals, dw, dx = first
    assert vals.shape == (3,) and dw.shape == (3, 1, 2, 3) and dx.shape == (3, 2)
    _assert_same_jacobian(h.jacobian(X[1], w), _general_jacobian(h, X[1], w))
    _assert_same_jacobian(h.jacobian(X[1], w), _general_jacobian(h, X[1], w))


def test_fast_jacobian_leaves_derived_inputs_shots_and_other_methods_to_the_general_path():
    @pq.qnode(wires=3)
    def f(inputs, weights):
        pq.IQPEmbedding(inputs, wires=range(3), n_repeats=2)
        pq.StronglyEntanglingLayers(weights, wires=range(3))
        return [pq.expval(pq.Z(i)) for i in range(3)]

    rng = np.random.default_rng(ref.seed_of("fast-jacobian-general"))
    X, W = rng.normal(size=(4, 3)), rng.uniform(0, 6, (1, 3, 3))
    first = f.jacobian(X, W)
    assert list(f._fast_jac.values()) == [None]  # derived input columns: the general path's pullback
    _assert_same_jacobian(f.jacobian(X, W), first)
    fd = pq.qnode(wires=3, diff_method="finite-diff")(f.func)
    np.testing.assert_allclose(f.jacobian(X, W)[2], fd.jacobian(X, W)[2], atol=1e-6)

    g = _qnn()
    x, w = rng.normal(size=(2, 2)), rng.uniform(0, 6, (1, 2, 3))
    g.jacobian(x, w, shots=100)  # a call-time shots=: nothing learnt, drawn
    assert not g._fast_jac
    ps = pq.qnode(wires=2, diff_method="parameter-shift")(g.func)
    ps.jacobian(x, w)
    assert list(ps._fast_jac.values()) == [None]
    sampled = pq.qnode(wires=2, shots=200, seed=1)(g.func)
    a, b = sampled.jacobian(x, w), sampled.jacobian(x, w)
    assert not sampled._fast_jac and not np.array_equal(a[1], b[1])  # fresh draws every call
